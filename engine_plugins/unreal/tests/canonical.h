// One-line canonical descriptions of a decode result, for comparing the C++ core with the
// Python reference (tests/test_unreal_core.py prints the same lines from bridge/protocol.py).
// Strings are UTF-8 hex, floats their IEEE bit patterns in hex, lists in [a,b,...]:
// exact comparisons with no formatting ambiguity.
#pragma once

#include "EmoRigCore/EmoRigCore.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace emorig_test
{

inline std::string Hex(std::string_view S)
{
    static const char* Digits = "0123456789abcdef";
    std::string Out;
    for (char Raw : S)
    {
        const unsigned char C = static_cast<unsigned char>(Raw);
        Out += Digits[C >> 4];
        Out += Digits[C & 15];
    }
    return Out;
}
inline std::string Bits(float V)
{
    uint32_t U;
    std::memcpy(&U, &V, 4);
    char Buf[16];
    std::snprintf(Buf, sizeof Buf, "%08x", U);
    return Buf;
}
inline std::string Bits(double V)
{
    uint64_t U;
    std::memcpy(&U, &V, 8);
    char Buf[24];
    std::snprintf(Buf, sizeof Buf, "%016llx", static_cast<unsigned long long>(U));
    return Buf;
}
template <class F>
std::string List(size_t N, F&& Item)
{
    std::string Out = "[";
    for (size_t I = 0; I < N; ++I)
    {
        if (I) Out += ',';
        Out += Item(I);
    }
    return Out + "]";
}

inline std::string DescribeLiveLinkFace(const uint8_t* Data, size_t Size)
{
    emorig::LiveLinkFacePacket P;
    const emorig::Reason R = emorig::DecodeLiveLinkFace(Data, Size, P);
    if (R != emorig::Reason::Ok) return std::string("err ") + emorig::ReasonCode(R);
    return "ok llf " + Hex(P.DeviceId) + " " + Hex(P.Subject) + " " + std::to_string(P.FrameNumber) + " " +
           Bits(P.SubFrame) + " " + std::to_string(P.RateNumerator) + " " + std::to_string(P.RateDenominator) + " " +
           List(emorig::LiveLinkFaceCurveCount, [&](size_t I) { return Bits(P.Value(I)); });
}

inline std::string DescribeCompact(const uint8_t* Data, size_t Size)
{
    emorig::CompactMessage M;
    const emorig::Reason R = emorig::DecodeOscCompact(Data, Size, M);
    if (R != emorig::Reason::Ok) return std::string("err ") + emorig::ReasonCode(R);
    if (M.Kind == emorig::CompactMessage::EKind::Names)
    {
        const emorig::CompactNames& N = M.Names;
        std::string Curves;
        N.ForEachCurveName([&](std::string_view C) { Curves += (Curves.empty() ? "" : ",") + Hex(C); });
        return "ok names " + Hex(N.Subject) + " " + std::to_string(N.Schema) + " " + Hex(N.Space) + " " +
               Bits(N.Fps) + " [" + Curves + "]";
    }
    const emorig::CompactFrame& F = M.Frame;
    std::string Out = "ok frame " + std::to_string(F.TimeTag) + " " + Hex(F.Subject) + " " + std::to_string(F.Number) +
                      " " + Bits(F.Time) + " " + Hex(F.Space) + " " +
                      List(F.ValueCount, [&](size_t I) { return Bits(F.Value(I)); });
    if (!F.bHasEmotion) return Out + " - - -";
    return Out + " " + Hex(F.Emotion) + " " + Bits(F.Intensity) + " " +
           List(emorig::EmotionCount, [&](size_t I) { return Bits(F.Probs[I]); });
}

inline std::string DescribeZmq(const uint8_t* Data, size_t Size)
{
    emorig::ZmqMessage M;
    const emorig::Reason R = emorig::DecodeZmq(Data, Size, M);
    if (R != emorig::Reason::Ok) return std::string("err ") + emorig::ReasonCode(R);
    auto Strings = [](const emorig::MsgpackArrayRef& A) {
        std::string Out = "[";
        bool bFirst = true;
        A.ForEach([&](const emorig::MpValue& V) {
            Out += (bFirst ? "" : ",") + Hex(emorig::AsText(V.Bytes.data, V.Bytes.size));
            bFirst = false;
        });
        return Out + "]";
    };
    switch (M.Kind)
    {
    case emorig::ZmqMessage::EKind::Other: return "ok other " + Hex(M.Type) + " " + std::to_string(M.Schema);
    case emorig::ZmqMessage::EKind::Static:
        return "ok static " + Hex(M.Subject) + " " + Hex(M.Space) + " " + Bits(M.Fps) + " " + Strings(M.Curves) + " " +
               Strings(M.Emotions);
    case emorig::ZmqMessage::EKind::Frame: break;
    }
    return "ok zframe " + Hex(M.Subject) + " " + std::to_string(M.Number) + " " + Bits(M.Time) + " " + Hex(M.Space) +
           " " + List(M.ValueCount, [&](size_t I) { return Bits(M.Value(I)); }) + " " + Hex(M.Emotion) + " " +
           List(emorig::EmotionCount, [&](size_t I) { return Bits(M.Probs[I]); }) + " " + Bits(M.Intensity);
}

}  // namespace emorig_test
