// Frame rates as fractions and audio-clock seconds as (frame, sub-frame), the way Unreal's
// FQualifiedFrameTime wants them. Mirrors bridge/protocol.py frame_rate_fraction/frame_time.
#pragma once

#include <cmath>
#include <cstdint>

namespace emorig
{

struct FrameRate
{
    int32_t Numerator = 60;
    int32_t Denominator = 1;
};

struct FrameTime
{
    int32_t Frame = 0;     // wraps at 2^31, like the frame numbers on the wire
    float SubFrame = 0.0f; // 0 <= SubFrame < 1
};

namespace detail
{
inline int64_t Gcd(int64_t A, int64_t B)
{
    while (B != 0)
    {
        const int64_t T = A % B;
        A = B;
        B = T;
    }
    return A;
}
}  // namespace detail

// 60 -> 60/1, 29.97 -> 30000/1001 (and 59.94, 23.976); anything else as n/1000 reduced.
// Not finite or not positive -> 60/1 (callers only pass rates that were checked).
inline FrameRate FrameRateFraction(double Fps)
{
    if (!(std::isfinite(Fps) && Fps > 0.0 && Fps < 1.0e6))
    {
        return FrameRate{};
    }
    const double Whole = std::round(Fps);
    if (std::fabs(Fps - Whole) < 1e-6 && Whole >= 1.0)
    {
        return FrameRate{int32_t(Whole), 1};
    }
    const double Ntsc = std::round(Fps * 1.001) * 1000.0;
    if (Ntsc > 0.0 && std::fabs(Fps - Ntsc / 1001.0) < 1e-3)
    {
        return FrameRate{int32_t(Ntsc), 1001};
    }
    const int64_t Num = int64_t(std::llround(Fps * 1000.0));
    if (Num <= 0)
    {
        return FrameRate{};
    }
    const int64_t G = detail::Gcd(Num, 1000);
    return FrameRate{int32_t(Num / G), int32_t(1000 / G)};
}

// Audio-clock seconds -> whole frames and the fraction of a frame at Rate. The tolerance
// keeps 3/60 s at frame 3 rather than frame 2 + 0.9999999.
inline FrameTime ToFrameTime(double Seconds, FrameRate Rate)
{
    FrameTime Out;
    if (!std::isfinite(Seconds) || Rate.Numerator <= 0 || Rate.Denominator <= 0)
    {
        return Out;
    }
    const double Position = Seconds * double(Rate.Numerator) / double(Rate.Denominator);
    const double Whole = std::floor(Position + 1e-6);
    double Sub = Position - Whole;
    Sub = Sub < 0.0 ? 0.0 : Sub;
    float SubF = float(Sub);
    if (!(SubF < 1.0f))
    {
        SubF = std::nextafter(1.0f, 0.0f);
    }
    constexpr double Wrap = 2147483648.0;  // 2^31
    double Wrapped = std::fmod(Whole, Wrap);
    if (Wrapped < 0.0) Wrapped += Wrap;
    Out.Frame = int32_t(Wrapped);
    Out.SubFrame = SubF;
    return Out;
}

}  // namespace emorig
