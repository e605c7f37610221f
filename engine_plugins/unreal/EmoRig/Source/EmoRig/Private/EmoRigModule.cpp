#include "EmoRigModule.h"

#include "Modules/ModuleManager.h"

DEFINE_LOG_CATEGORY(LogEmoRig);

IMPLEMENT_MODULE(FDefaultModuleImpl, EmoRig)
