// Bounds-checked reading of untrusted bytes: big- and little-endian loads, a cursor that
// refuses to step past the end, and a strict UTF-8 check.
//
// Part of the engine-free core: standard C++17 only, no Unreal includes, no exceptions,
// no allocation. Everything is inline so the core is header-only (Unreal consumes it as an
// External module; the tests compile it with g++).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace emorig
{

struct ByteView
{
    const uint8_t* data = nullptr;
    size_t size = 0;
};

inline uint32_t LoadBE32(const uint8_t* p)
{
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

inline uint64_t LoadBE64(const uint8_t* p)
{
    return (uint64_t(LoadBE32(p)) << 32) | uint64_t(LoadBE32(p + 4));
}

inline uint16_t LoadBE16(const uint8_t* p)
{
    return uint16_t((uint32_t(p[0]) << 8) | uint32_t(p[1]));
}

inline int32_t LoadBEI32(const uint8_t* p)
{
    const uint32_t u = LoadBE32(p);
    int32_t v;
    std::memcpy(&v, &u, sizeof v);  // two's complement reinterpretation without UB
    return v;
}

inline int64_t LoadBEI64(const uint8_t* p)
{
    const uint64_t u = LoadBE64(p);
    int64_t v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

inline float LoadBEF32(const uint8_t* p)
{
    const uint32_t u = LoadBE32(p);
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

inline double LoadBEF64(const uint8_t* p)
{
    const uint64_t u = LoadBE64(p);
    double v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

inline float LoadLEF32(const uint8_t* p)
{
    const uint32_t u = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

inline std::string_view AsText(const uint8_t* p, size_t n)
{
    return std::string_view(reinterpret_cast<const char*>(p), n);
}

// A read position inside [data, data + size). Every step is checked first; a failed step
// leaves the position where it was.
class Cursor
{
public:
    Cursor(const uint8_t* InData, size_t InSize) : Data(InData), Size(InSize) {}

    size_t Position() const { return At; }
    size_t Remaining() const { return Size - At; }
    bool AtEnd() const { return At == Size; }
    const uint8_t* Here() const { return Data + At; }

    bool Take(size_t N, const uint8_t*& Out)
    {
        if (N > Size - At)
        {
            return false;
        }
        Out = Data + At;
        At += N;
        return true;
    }
    bool Skip(size_t N)
    {
        const uint8_t* Ignored = nullptr;
        return Take(N, Ignored);
    }
    bool U8(uint8_t& Out)
    {
        const uint8_t* P = nullptr;
        if (!Take(1, P)) return false;
        Out = *P;
        return true;
    }
    bool BEI32(int32_t& Out)
    {
        const uint8_t* P = nullptr;
        if (!Take(4, P)) return false;
        Out = LoadBEI32(P);
        return true;
    }
    bool BEF32(float& Out)
    {
        const uint8_t* P = nullptr;
        if (!Take(4, P)) return false;
        Out = LoadBEF32(P);
        return true;
    }

private:
    const uint8_t* Data;
    size_t Size;
    size_t At = 0;
};

// Strict UTF-8, as Python's decoder reads it: no overlong forms, no surrogates, nothing past
// U+10FFFF. Embedded NULs are allowed here (callers that forbid them check separately).
inline bool IsUtf8(const uint8_t* P, size_t N)
{
    size_t I = 0;
    while (I < N)
    {
        const uint8_t C = P[I];
        if (C < 0x80)
        {
            ++I;
            continue;
        }
        size_t Len = 0;
        uint32_t Cp = 0, Min = 0;
        if ((C & 0xE0) == 0xC0) { Len = 2; Cp = C & 0x1Fu; Min = 0x80; }
        else if ((C & 0xF0) == 0xE0) { Len = 3; Cp = C & 0x0Fu; Min = 0x800; }
        else if ((C & 0xF8) == 0xF0) { Len = 4; Cp = C & 0x07u; Min = 0x10000; }
        else return false;
        if (Len > N - I) return false;
        for (size_t K = 1; K < Len; ++K)
        {
            const uint8_t Cc = P[I + K];
            if ((Cc & 0xC0) != 0x80) return false;
            Cp = (Cp << 6) | (Cc & 0x3Fu);
        }
        if (Cp < Min || Cp > 0x10FFFF || (Cp >= 0xD800 && Cp <= 0xDFFF)) return false;
        I += Len;
    }
    return true;
}

}  // namespace emorig
