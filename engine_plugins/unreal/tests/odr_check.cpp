// A second translation unit including the whole core: if any header defined a non-inline
// function or variable, linking it with core_tests.cpp would fail.
#include "EmoRigCore/EmoRigCore.h"

int OtherTranslationUnit()
{
    emorig::Tracker T;
    const uint8_t Nothing[1] = {0};
    T.OnDatagram(Nothing, 0);
    return int(emorig::LiveLinkFaceCurveCount);
}
