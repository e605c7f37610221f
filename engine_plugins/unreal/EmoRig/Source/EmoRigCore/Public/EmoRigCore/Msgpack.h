// A minimal, validating msgpack reader for emorig's ZeroMQ payloads: it walks values in
// place (no DOM, no allocation) and accepts exactly what Python's msgpack.unpackb(raw=False,
// strict_map_key=True) accepts, except that nesting is capped at MsgpackMaxDepth.
#pragma once

#include "EmoRigCore/Bytes.h"

#include <cstddef>
#include <cstdint>

namespace emorig
{

constexpr int MsgpackMaxDepth = 32;

enum class MpType : uint8_t { Nil, Bool, Int, UInt, Float32, Float64, Str, Bin, Array, Map, Ext };

// One value's header. For Str, Bin and Ext, Bytes is the payload; for Array and Map, Count is
// the number of elements (pairs for a map), which follow the header.
struct MpValue
{
    MpType Type = MpType::Nil;
    bool Bool = false;
    int64_t Int = 0;     // Int (negative or signed encodings)
    uint64_t UInt = 0;   // UInt (positive encodings)
    double Float = 0.0;  // Float32, Float64
    ByteView Bytes;
    uint32_t Count = 0;
    int8_t ExtType = 0;

    bool IsInteger() const { return Type == MpType::Int || Type == MpType::UInt; }
    bool IsNumber() const { return IsInteger() || Type == MpType::Float32 || Type == MpType::Float64; }
    double AsDouble() const
    {
        return Type == MpType::Int ? double(Int) : Type == MpType::UInt ? double(UInt) : Float;
    }
};

class MsgpackReader
{
public:
    MsgpackReader(const uint8_t* Data, size_t Size) : C(Data, Size) {}

    size_t Position() const { return C.Position(); }
    bool AtEnd() const { return C.AtEnd(); }

    // Reads one header (and the payload of Str/Bin/Ext). Checks UTF-8 of strings and the
    // timestamp extension, as Python's reader does.
    bool ReadHeader(MpValue& Out)
    {
        Out = MpValue();
        uint8_t B = 0;
        if (!C.U8(B)) return false;
        if (B <= 0x7f) { Out.Type = MpType::UInt; Out.UInt = B; return true; }
        if (B >= 0xe0) { Out.Type = MpType::Int; Out.Int = int64_t(B) - 256; return true; }
        if (B >= 0x80 && B <= 0x8f) { Out.Type = MpType::Map; Out.Count = B & 0x0fu; return true; }
        if (B >= 0x90 && B <= 0x9f) { Out.Type = MpType::Array; Out.Count = B & 0x0fu; return true; }
        if (B >= 0xa0 && B <= 0xbf) return Payload(MpType::Str, B & 0x1fu, Out);
        const uint8_t* P = nullptr;
        switch (B)
        {
        case 0xc0: Out.Type = MpType::Nil; return true;
        case 0xc2: Out.Type = MpType::Bool; Out.Bool = false; return true;
        case 0xc3: Out.Type = MpType::Bool; Out.Bool = true; return true;
        case 0xc4: return Sized(MpType::Bin, 1, Out);
        case 0xc5: return Sized(MpType::Bin, 2, Out);
        case 0xc6: return Sized(MpType::Bin, 4, Out);
        case 0xc7: return SizedExt(1, Out);
        case 0xc8: return SizedExt(2, Out);
        case 0xc9: return SizedExt(4, Out);
        case 0xca: if (!C.Take(4, P)) return false; Out.Type = MpType::Float32; Out.Float = double(LoadBEF32(P)); return true;
        case 0xcb: if (!C.Take(8, P)) return false; Out.Type = MpType::Float64; Out.Float = LoadBEF64(P); return true;
        case 0xcc: if (!C.Take(1, P)) return false; Out.Type = MpType::UInt; Out.UInt = P[0]; return true;
        case 0xcd: if (!C.Take(2, P)) return false; Out.Type = MpType::UInt; Out.UInt = LoadBE16(P); return true;
        case 0xce: if (!C.Take(4, P)) return false; Out.Type = MpType::UInt; Out.UInt = LoadBE32(P); return true;
        case 0xcf: if (!C.Take(8, P)) return false; Out.Type = MpType::UInt; Out.UInt = LoadBE64(P); return true;
        case 0xd0: if (!C.Take(1, P)) return false; Out.Type = MpType::Int; Out.Int = int8_t(P[0]); return true;
        case 0xd1: if (!C.Take(2, P)) return false; Out.Type = MpType::Int; Out.Int = int16_t(LoadBE16(P)); return true;
        case 0xd2: if (!C.Take(4, P)) return false; Out.Type = MpType::Int; Out.Int = LoadBEI32(P); return true;
        case 0xd3: if (!C.Take(8, P)) return false; Out.Type = MpType::Int; Out.Int = LoadBEI64(P); return true;
        case 0xd4: return Ext(1, Out);
        case 0xd5: return Ext(2, Out);
        case 0xd6: return Ext(4, Out);
        case 0xd7: return Ext(8, Out);
        case 0xd8: return Ext(16, Out);
        case 0xd9: return Sized(MpType::Str, 1, Out);
        case 0xda: return Sized(MpType::Str, 2, Out);
        case 0xdb: return Sized(MpType::Str, 4, Out);
        case 0xdc: if (!C.Take(2, P)) return false; Out.Type = MpType::Array; Out.Count = LoadBE16(P); return true;
        case 0xdd: if (!C.Take(4, P)) return false; Out.Type = MpType::Array; Out.Count = LoadBE32(P); return true;
        case 0xde: if (!C.Take(2, P)) return false; Out.Type = MpType::Map; Out.Count = LoadBE16(P); return true;
        case 0xdf: if (!C.Take(4, P)) return false; Out.Type = MpType::Map; Out.Count = LoadBE32(P); return true;
        default: return false;  // 0xc1 is never used
        }
    }

    // Skips the rest of a value whose header was just read (the elements of an array or map).
    bool SkipBody(const MpValue& V, int Depth)
    {
        if (V.Type != MpType::Array && V.Type != MpType::Map) return true;
        if (Depth >= MsgpackMaxDepth) return false;
        for (uint32_t I = 0; I < V.Count; ++I)
        {
            if (V.Type == MpType::Map)
            {
                MpValue Key;
                // strict_map_key: only str and bin keys.
                if (!ReadHeader(Key) || (Key.Type != MpType::Str && Key.Type != MpType::Bin)) return false;
            }
            if (!SkipValue(Depth + 1)) return false;
        }
        return true;
    }

    // Reads and skips one whole value, validating all of it.
    bool SkipValue(int Depth = 0)
    {
        MpValue V;
        return ReadHeader(V) && SkipBody(V, Depth);
    }

private:
    bool Payload(MpType Type, size_t N, MpValue& Out)
    {
        const uint8_t* P = nullptr;
        if (!C.Take(N, P)) return false;
        if (Type == MpType::Str && !IsUtf8(P, N)) return false;
        Out.Type = Type;
        Out.Bytes = ByteView{P, N};
        return true;
    }
    bool ReadLength(size_t Width, size_t& N)
    {
        const uint8_t* P = nullptr;
        if (!C.Take(Width, P)) return false;
        N = Width == 1 ? P[0] : Width == 2 ? LoadBE16(P) : LoadBE32(P);
        return true;
    }
    bool Sized(MpType Type, size_t Width, MpValue& Out)
    {
        size_t N = 0;
        return ReadLength(Width, N) && Payload(Type, N, Out);
    }
    bool SizedExt(size_t Width, MpValue& Out)
    {
        size_t N = 0;
        return ReadLength(Width, N) && Ext(N, Out);
    }
    bool Ext(size_t N, MpValue& Out)
    {
        uint8_t Type = 0;
        if (!C.U8(Type) || !Payload(MpType::Ext, N, Out)) return false;
        Out.Type = MpType::Ext;
        Out.ExtType = int8_t(Type);
        return Out.ExtType != -1 || TimestampOk(Out.Bytes);
    }
    // Extension -1 is msgpack's timestamp; Python refuses malformed ones, so do we.
    static bool TimestampOk(ByteView B)
    {
        if (B.size == 4) return true;
        if (B.size == 8) return (LoadBE64(B.data) >> 34) < 1000000000u;
        if (B.size == 12) return LoadBE32(B.data) < 1000000000u;
        return false;
    }

    Cursor C;
};

}  // namespace emorig
