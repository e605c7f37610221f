namespace Emorig.Bridge.Core
{
    public enum MsgPackKind : byte
    {
        Nil,
        Bool,
        Int,      // a negative integer (msgpack's int family), in Int
        UInt,     // a non-negative integer, in UInt
        Float32,
        Float64,
        Str,      // Start/Length: the UTF-8 bytes
        Bin,      // Start/Length: the bytes
        Array,    // Length: the number of items that follow
        Map,      // Length: the number of key/value pairs that follow
        Ext,      // Start/Length: the data; ExtType: the type
    }

    /// <summary>One msgpack header and, for str/bin/ext, where its bytes are.</summary>
    public struct MsgPackToken
    {
        public MsgPackKind Kind;
        public bool Bool;
        public long Int;
        public ulong UInt;
        public double Float;
        public int Start, Length;
        public sbyte ExtType;

        public bool IsInteger { get { return Kind == MsgPackKind.Int || Kind == MsgPackKind.UInt; } }
        public bool IsNumber { get { return IsInteger || Kind == MsgPackKind.Float32 || Kind == MsgPackKind.Float64; } }

        /// <summary>The number as a double (integers converted), for IsNumber tokens.</summary>
        public double AsDouble()
        {
            switch (Kind)
            {
                case MsgPackKind.Int: return Int;
                case MsgPackKind.UInt: return UInt;
                default: return Float;
            }
        }
    }

    /// <summary>A small msgpack reader: headers one at a time, no allocations, every length checked
    /// against the end of the buffer before it is believed.</summary>
    public static class MsgPack
    {
        /// <summary>Deepest nesting SkipValue follows (emorig's messages nest 2 deep); deeper input is
        /// refused rather than risking the stack.</summary>
        public const int MaxDepth = 32;

        /// <summary>Reads the header at `at`; for str, bin and ext also steps over their bytes (which
        /// must fit before `end`). Arrays and maps leave their items to the caller.</summary>
        public static bool ReadToken(byte[] d, ref int at, int end, out MsgPackToken t)
        {
            t = default(MsgPackToken);
            if (at >= end) return false;
            int b = d[at++];
            if (b <= 0x7f) return Unsigned(ref t, (ulong)b);
            if (b >= 0xe0) return Signed(ref t, (sbyte)b);
            if (b <= 0x8f) return Container(ref t, MsgPackKind.Map, b & 0x0f);
            if (b <= 0x9f) return Container(ref t, MsgPackKind.Array, b & 0x0f);
            if (b <= 0xbf) return Payload(d, ref at, end, ref t, MsgPackKind.Str, b & 0x1f);
            int left = end - at;
            switch (b)
            {
                case 0xc0: t.Kind = MsgPackKind.Nil; return true;
                case 0xc2: t.Kind = MsgPackKind.Bool; t.Bool = false; return true;
                case 0xc3: t.Kind = MsgPackKind.Bool; t.Bool = true; return true;
                case 0xc4: case 0xc5: case 0xc6: // bin 8/16/32
                case 0xd9: case 0xda: case 0xdb: // str 8/16/32
                {
                    int sizeBytes = (b == 0xc4 || b == 0xd9) ? 1 : (b == 0xc5 || b == 0xda) ? 2 : 4;
                    long n;
                    if (!Length(d, ref at, end, sizeBytes, out n)) return false;
                    return Payload(d, ref at, end, ref t, b >= 0xd9 ? MsgPackKind.Str : MsgPackKind.Bin, n);
                }
                case 0xc7: case 0xc8: case 0xc9: // ext 8/16/32: size, type, data
                {
                    int sizeBytes = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
                    long n;
                    if (!Length(d, ref at, end, sizeBytes, out n) || at >= end) return false;
                    t.ExtType = (sbyte)d[at++];
                    return Payload(d, ref at, end, ref t, MsgPackKind.Ext, n);
                }
                case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: // fixext 1/2/4/8/16
                {
                    if (left < 1) return false;
                    t.ExtType = (sbyte)d[at++];
                    return Payload(d, ref at, end, ref t, MsgPackKind.Ext, 1 << (b - 0xd4));
                }
                case 0xca:
                    if (left < 4) return false;
                    t.Kind = MsgPackKind.Float32;
                    t.Float = Bytes.FloatBE(d, at);
                    at += 4;
                    return true;
                case 0xcb:
                    if (left < 8) return false;
                    t.Kind = MsgPackKind.Float64;
                    t.Float = Bytes.DoubleBE(d, at);
                    at += 8;
                    return true;
                case 0xcc: if (left < 1) return false; at += 1; return Unsigned(ref t, d[at - 1]);
                case 0xcd: if (left < 2) return false; at += 2; return Unsigned(ref t, Bytes.UInt16BE(d, at - 2));
                case 0xce: if (left < 4) return false; at += 4; return Unsigned(ref t, Bytes.UInt32BE(d, at - 4));
                case 0xcf: if (left < 8) return false; at += 8; return Unsigned(ref t, Bytes.UInt64BE(d, at - 8));
                case 0xd0: if (left < 1) return false; at += 1; return Signed(ref t, (sbyte)d[at - 1]);
                case 0xd1: if (left < 2) return false; at += 2; return Signed(ref t, (short)Bytes.UInt16BE(d, at - 2));
                case 0xd2: if (left < 4) return false; at += 4; return Signed(ref t, Bytes.Int32BE(d, at - 4));
                case 0xd3: if (left < 8) return false; at += 8; return Signed(ref t, (long)Bytes.UInt64BE(d, at - 8));
                case 0xdc: case 0xdd: case 0xde: case 0xdf: // array 16/32, map 16/32
                {
                    long n;
                    if (!Length(d, ref at, end, (b & 1) == 0 ? 2 : 4, out n)) return false;
                    // Every item takes at least one byte: a count larger than what is left is a lie.
                    if (n > end - at) return false;
                    t.Kind = b <= 0xdd ? MsgPackKind.Array : MsgPackKind.Map;
                    t.Length = (int)n;
                    return true;
                }
                default: // 0xc1, never used
                    return false;
            }
        }

        /// <summary>Steps over one complete value, checking what msgpack-python checks in emorig's
        /// reference reader: it fits, strings are UTF-8, map keys are str or bin.</summary>
        public static bool SkipValue(byte[] d, ref int at, int end)
        {
            return SkipValue(d, ref at, end, 0);
        }

        private static bool SkipValue(byte[] d, ref int at, int end, int depth)
        {
            MsgPackToken t;
            if (!ReadToken(d, ref at, end, out t)) return false;
            switch (t.Kind)
            {
                case MsgPackKind.Str:
                    return Bytes.IsValidUtf8(d, t.Start, t.Length);
                case MsgPackKind.Ext:
                    return t.ExtType != -1 || IsTimestamp(d, t);
                case MsgPackKind.Array:
                    if (depth >= MaxDepth) return false;
                    for (int i = 0; i < t.Length; i++)
                        if (!SkipValue(d, ref at, end, depth + 1)) return false;
                    return true;
                case MsgPackKind.Map:
                    if (depth >= MaxDepth) return false;
                    for (int i = 0; i < t.Length; i++)
                    {
                        int keyAt = at;
                        MsgPackToken key;
                        if (!ReadToken(d, ref keyAt, end, out key)) return false;
                        if (key.Kind != MsgPackKind.Str && key.Kind != MsgPackKind.Bin) return false;
                        if (!SkipValue(d, ref at, end, depth + 1) || !SkipValue(d, ref at, end, depth + 1)) return false;
                    }
                    return true;
                default:
                    return true;
            }
        }

        /// <summary>Extension type -1 is msgpack's timestamp, which msgpack-python decodes and checks:
        /// 4, 8 or 12 bytes, nanoseconds below 10^9.</summary>
        private static bool IsTimestamp(byte[] d, MsgPackToken t)
        {
            switch (t.Length)
            {
                case 4: return true;
                case 8: return Bytes.UInt32BE(d, t.Start) >> 2 <= 999999999;
                case 12: return Bytes.UInt32BE(d, t.Start) <= 999999999;
                default: return false;
            }
        }

        /// <summary>Whether a str token holds exactly the ASCII bytes `name`.</summary>
        public static bool StrEquals(byte[] d, MsgPackToken t, byte[] name)
        {
            return t.Kind == MsgPackKind.Str && Bytes.Equal(d, t.Start, t.Length, name);
        }

        private static bool Unsigned(ref MsgPackToken t, ulong v)
        {
            t.Kind = MsgPackKind.UInt;
            t.UInt = v;
            return true;
        }

        private static bool Signed(ref MsgPackToken t, long v)
        {
            if (v >= 0) return Unsigned(ref t, (ulong)v);
            t.Kind = MsgPackKind.Int;
            t.Int = v;
            return true;
        }

        private static bool Container(ref MsgPackToken t, MsgPackKind kind, int n)
        {
            t.Kind = kind;
            t.Length = n;
            return true;
        }

        private static bool Length(byte[] d, ref int at, int end, int sizeBytes, out long n)
        {
            n = 0;
            if (end - at < sizeBytes) return false;
            for (int i = 0; i < sizeBytes; i++) n = (n << 8) | d[at + i];
            at += sizeBytes;
            return true;
        }

        private static bool Payload(byte[] d, ref int at, int end, ref MsgPackToken t, MsgPackKind kind, long n)
        {
            if (n > end - at) return false;
            t.Kind = kind;
            t.Start = at;
            t.Length = (int)n;
            at += (int)n;
            return true;
        }
    }
}
