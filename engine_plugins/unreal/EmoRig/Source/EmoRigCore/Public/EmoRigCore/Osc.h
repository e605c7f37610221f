// A strict, bounds-checked OSC 1.0 reader: messages, bundles and nested bundles, and the
// argument types i f d s S b h t c r m T F N I plus OSC 1.1 arrays [ ].
//
// Everything returned points into the caller's datagram (no copies, no allocation); keep the
// datagram alive while you use the result. A message is accepted only if it is exactly one
// well-formed message: address starting with '/', a type tag string starting with ',',
// NUL-terminated strings padded with zeros to 4 bytes, UTF-8 text, every argument inside
// the datagram, and no bytes left over. Anything else is Reason::BadOsc.
#pragma once

#include "EmoRigCore/Bytes.h"
#include "EmoRigCore/Reason.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace emorig
{

// Bundles nest; a datagram of 64 KiB could nest thousands deep, so recursion is capped.
constexpr int OscMaxBundleDepth = 8;

struct OscMessage
{
    std::string_view Address;
    std::string_view Tags;  // the type tags without the leading ','
    ByteView Args;          // the argument bytes, in tag order
};

struct OscArg
{
    char Tag = 0;
    int32_t I32 = 0;       // i
    int64_t I64 = 0;       // h
    uint64_t U64 = 0;      // t (time tag)
    uint32_t U32 = 0;      // c, r, m (raw 32 bits)
    float F32 = 0.0f;      // f
    double F64 = 0.0;      // d
    bool Bool = false;     // T, F
    std::string_view Str;  // s, S
    ByteView Blob;         // b
};

// One OSC string at the cursor: bytes up to a NUL, then zero padding to a multiple of 4.
inline bool ReadOscString(Cursor& C, std::string_view& Out)
{
    const size_t Left = C.Remaining();
    const void* Nul = std::memchr(C.Here(), 0, Left);
    if (Nul == nullptr)
    {
        return false;
    }
    const size_t Len = size_t(static_cast<const uint8_t*>(Nul) - C.Here());
    const size_t Padded = (Len + 4) & ~size_t(3);
    if (Padded > Left)
    {
        return false;
    }
    const uint8_t* P = C.Here();
    for (size_t I = Len; I < Padded; ++I)
    {
        if (P[I] != 0) return false;
    }
    if (!IsUtf8(P, Len))
    {
        return false;
    }
    Out = AsText(P, Len);
    return C.Skip(Padded);
}

// Walks the arguments of a parsed message. After ParseOscMessage succeeded, Next() cannot
// fail; it still checks every step, so it is safe on any OscMessage.
class OscArgReader
{
public:
    explicit OscArgReader(const OscMessage& M) : Tags(M.Tags), C(M.Args.data, M.Args.size) {}

    // Fills Out with the next argument; false at the end of the tags or on malformed data.
    bool Next(OscArg& Out)
    {
        if (bFailed || TagIndex >= Tags.size())
        {
            return false;
        }
        Out = OscArg();
        Out.Tag = Tags[TagIndex++];
        const uint8_t* P = nullptr;
        bool bOk = true;
        switch (Out.Tag)
        {
        case 'i': bOk = C.Take(4, P); if (bOk) Out.I32 = LoadBEI32(P); break;
        case 'f': bOk = C.Take(4, P); if (bOk) Out.F32 = LoadBEF32(P); break;
        case 'c':
        case 'r':
        case 'm': bOk = C.Take(4, P); if (bOk) Out.U32 = LoadBE32(P); break;
        case 'h': bOk = C.Take(8, P); if (bOk) Out.I64 = LoadBEI64(P); break;
        case 't': bOk = C.Take(8, P); if (bOk) Out.U64 = LoadBE64(P); break;
        case 'd': bOk = C.Take(8, P); if (bOk) Out.F64 = LoadBEF64(P); break;
        case 's':
        case 'S': bOk = ReadOscString(C, Out.Str); break;
        case 'b':
        {
            int32_t Size = 0;
            bOk = C.BEI32(Size) && Size >= 0;
            if (bOk)
            {
                const size_t N = size_t(Size);
                const size_t Padded = (N + 3) & ~size_t(3);
                bOk = Padded <= C.Remaining();
                if (bOk)
                {
                    Out.Blob = ByteView{C.Here(), N};
                    for (size_t I = N; I < Padded; ++I) bOk = bOk && C.Here()[I] == 0;
                    bOk = bOk && C.Skip(Padded);
                }
            }
            break;
        }
        case 'T': Out.Bool = true; break;
        case 'F': Out.Bool = false; break;
        case 'N':
        case 'I': break;
        case '[': ++Depth; break;
        case ']': bOk = Depth > 0; --Depth; break;
        default: bOk = false; break;  // a type this reader does not know: its size is unknown
        }
        if (!bOk)
        {
            bFailed = true;
        }
        return bOk;
    }

    bool Failed() const { return bFailed; }
    // True once every tag was read, brackets balanced and every byte used.
    bool FinishedCleanly() const { return !bFailed && TagIndex == Tags.size() && Depth == 0 && C.AtEnd(); }

private:
    std::string_view Tags;
    Cursor C;
    size_t TagIndex = 0;
    int Depth = 0;
    bool bFailed = false;
};

// Parses and validates one OSC message that fills [Data, Data + Size) exactly.
inline Reason ParseOscMessage(const uint8_t* Data, size_t Size, OscMessage& Out)
{
    if (Size == 0 || Data[0] != '/')
    {
        return Reason::BadOsc;
    }
    Cursor C(Data, Size);
    std::string_view Address, Tags;
    if (!ReadOscString(C, Address) || C.AtEnd() || !ReadOscString(C, Tags) || Tags.empty() || Tags[0] != ',')
    {
        return Reason::BadOsc;
    }
    OscMessage M;
    M.Address = Address;
    M.Tags = Tags.substr(1);
    M.Args = ByteView{C.Here(), C.Remaining()};
    OscArgReader Reader(M);
    OscArg Ignored;
    while (Reader.Next(Ignored))
    {
    }
    if (!Reader.FinishedCleanly())
    {
        return Reason::BadOsc;
    }
    Out = M;
    return Reason::Ok;
}

inline bool StartsWithBundleTag(const uint8_t* Data, size_t Size)
{
    return Size >= 8 && std::memcmp(Data, "#bundle\0", 8) == 0;
}

// Steps through the elements of one bundle (not into nested ones).
class OscBundleReader
{
public:
    // Checks the header ("#bundle\0" and an 8-byte time tag).
    Reason Open(const uint8_t* Data, size_t Size)
    {
        if (Size < 16 || !StartsWithBundleTag(Data, Size))
        {
            return Reason::BadOsc;
        }
        TimeTag = LoadBE64(Data + 8);
        C = Cursor(Data + 16, Size - 16);
        return Reason::Ok;
    }

    // The next element: false at the end, or with Error = BadOsc on a bad size field.
    // Element sizes must be positive multiples of 4 that fit the datagram.
    bool Next(ByteView& Element, Reason& Error)
    {
        Error = Reason::Ok;
        if (C.AtEnd())
        {
            return false;
        }
        int32_t Size = 0;
        const uint8_t* P = nullptr;
        if (!C.BEI32(Size) || Size <= 0 || Size % 4 != 0 || !C.Take(size_t(Size), P))
        {
            Error = Reason::BadOsc;
            return false;
        }
        Element = ByteView{P, size_t(Size)};
        return true;
    }

    uint64_t TimeTag = 0;

private:
    Cursor C{nullptr, 0};
};

namespace detail
{
// Fn(const OscMessage&, const uint64_t* TimeTag) is called for each message (TimeTag is the
// innermost bundle's, or null for a plain message); it returns false to stop early.
template <class F>
Reason WalkOsc(const uint8_t* Data, size_t Size, const uint64_t* TimeTag, int Depth, F& Fn, bool& bStopped)
{
    if (Size > 0 && Data[0] == '#')
    {
        if (Depth >= OscMaxBundleDepth)
        {
            return Reason::BadOsc;
        }
        OscBundleReader Bundle;
        if (Bundle.Open(Data, Size) != Reason::Ok)
        {
            return Reason::BadOsc;
        }
        const uint64_t Tag = Bundle.TimeTag;
        ByteView Element;
        Reason Error = Reason::Ok;
        while (!bStopped && Bundle.Next(Element, Error))
        {
            const Reason R = WalkOsc(Element.data, Element.size, &Tag, Depth + 1, Fn, bStopped);
            if (R != Reason::Ok) return R;
        }
        return Error;
    }
    OscMessage M;
    const Reason R = ParseOscMessage(Data, Size, M);
    if (R != Reason::Ok)
    {
        return R;
    }
    if (!Fn(M, TimeTag))
    {
        bStopped = true;
    }
    return Reason::Ok;
}
}  // namespace detail

// Validates a whole OSC packet (message or bundle, nested to OscMaxBundleDepth).
inline Reason ValidateOscPacket(const uint8_t* Data, size_t Size)
{
    auto Accept = [](const OscMessage&, const uint64_t*) { return true; };
    bool bStopped = false;
    return detail::WalkOsc(Data, Size, nullptr, 0, Accept, bStopped);
}

// Calls Fn(const OscMessage&, const uint64_t* TimeTag) -> bool for every message of a packet,
// in order, but only after the whole packet was validated: Fn never sees part of a bad packet.
template <class F>
Reason ForEachOscMessage(const uint8_t* Data, size_t Size, F&& Fn)
{
    const Reason R = ValidateOscPacket(Data, Size);
    if (R != Reason::Ok)
    {
        return R;
    }
    bool bStopped = false;
    return detail::WalkOsc(Data, Size, nullptr, 0, Fn, bStopped);
}

}  // namespace emorig
