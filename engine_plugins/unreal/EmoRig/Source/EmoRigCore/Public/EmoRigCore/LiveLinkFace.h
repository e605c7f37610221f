// Live Link Face UDP packets (Epic's iPhone app format, packet version 6, big-endian), the
// format of emorig's livelinkface:// sink:
//
//   u8 version (6) | i32 N, N bytes device id | i32 M, M bytes subject | i32 frame number |
//   f32 sub-frame | i32 rate numerator | i32 rate denominator | u8 count (61) | 61 x f32
//
// Checks and their order follow bridge/protocol.py decode_livelinkface, which is stricter
// than Unreal (trailing bytes are rejected).
#pragma once

#include "EmoRigCore/Bytes.h"
#include "EmoRigCore/Reason.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace emorig
{

constexpr uint8_t LiveLinkFaceVersion = 6;
constexpr size_t LiveLinkFaceCurveCount = 61;
constexpr int32_t LiveLinkFaceMaxNameBytes = 255;

// The 61 values in wire order (Unreal's EARFaceBlendShape), named as Unreal publishes them.
inline const char* const* LiveLinkFaceCurveNames()
{
    static const char* const Names[LiveLinkFaceCurveCount] = {
        "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
        "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
        "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
        "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
        "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
        "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
        "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
        "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
        "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
        "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
        "NoseSneerRight", "TongueOut", "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw",
        "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll"};
    return Names;
}

struct LiveLinkFacePacket
{
    uint8_t Version = 0;
    std::string_view DeviceId;
    std::string_view Subject;
    int32_t FrameNumber = 0;
    float SubFrame = 0.0f;
    int32_t RateNumerator = 0;
    int32_t RateDenominator = 0;
    const uint8_t* ValuesBE = nullptr;  // 61 big-endian float32s inside the datagram

    float Value(size_t I) const { return LoadBEF32(ValuesBE + 4 * I); }
    // Audio-clock seconds: (frame number + sub-frame) / (numerator / denominator).
    double Seconds() const
    {
        return (double(FrameNumber) + double(SubFrame)) * double(RateDenominator) / double(RateNumerator);
    }
};

namespace detail
{
inline Reason ReadLiveLinkFaceName(Cursor& C, std::string_view& Out)
{
    int32_t Len = 0;
    if (!C.BEI32(Len))
    {
        return Reason::Truncated;
    }
    if (Len <= 0 || Len > LiveLinkFaceMaxNameBytes)
    {
        return Reason::BadNameLength;
    }
    const uint8_t* P = nullptr;
    if (!C.Take(size_t(Len), P))
    {
        return Reason::Truncated;
    }
    if (!IsUtf8(P, size_t(Len)))
    {
        return Reason::BadUtf8;
    }
    Out = AsText(P, size_t(Len));
    return Reason::Ok;
}
}  // namespace detail

inline Reason DecodeLiveLinkFace(const uint8_t* Data, size_t Size, LiveLinkFacePacket& Out)
{
    Out = LiveLinkFacePacket();
    Cursor C(Data, Size);
    if (!C.U8(Out.Version))
    {
        return Reason::Truncated;
    }
    if (Out.Version != LiveLinkFaceVersion)
    {
        return Reason::BadVersion;
    }
    Reason R = detail::ReadLiveLinkFaceName(C, Out.DeviceId);
    if (R != Reason::Ok) return R;
    R = detail::ReadLiveLinkFaceName(C, Out.Subject);
    if (R != Reason::Ok) return R;
    uint8_t Count = 0;
    if (!C.BEI32(Out.FrameNumber) || !C.BEF32(Out.SubFrame) || !C.BEI32(Out.RateNumerator) ||
        !C.BEI32(Out.RateDenominator) || !C.U8(Count))
    {
        return Reason::Truncated;
    }
    if (!(std::isfinite(Out.SubFrame) && Out.SubFrame >= 0.0f && Out.SubFrame < 1.0f))
    {
        return Reason::BadSubFrame;
    }
    if (Out.RateNumerator <= 0 || Out.RateDenominator <= 0)
    {
        return Reason::BadFrameRate;
    }
    if (Count != LiveLinkFaceCurveCount)
    {
        return Reason::BadCount;
    }
    if (!C.Take(4 * LiveLinkFaceCurveCount, Out.ValuesBE))
    {
        return Reason::Truncated;
    }
    if (!C.AtEnd())
    {
        return Reason::TrailingBytes;
    }
    for (size_t I = 0; I < LiveLinkFaceCurveCount; ++I)
    {
        if (!std::isfinite(Out.Value(I))) return Reason::NonFiniteValue;
    }
    return Reason::Ok;
}

}  // namespace emorig
