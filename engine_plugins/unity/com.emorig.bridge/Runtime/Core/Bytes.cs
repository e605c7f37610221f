using System;
using System.Runtime.InteropServices;

namespace Emorig.Bridge.Core
{
    /// <summary>Fixed-size numbers out of byte arrays. Callers check bounds first; these never do,
    /// so each decoder has exactly one place where it decides how much data is left.</summary>
    internal static class Bytes
    {
        // BitConverter.Int32BitsToSingle is missing from the .NET 4.x profile that Debian's mono
        // and older Unity versions compile against; an explicit-layout union does the same
        // without unsafe code or an allocation.
        [StructLayout(LayoutKind.Explicit)]
        private struct FloatBits
        {
            [FieldOffset(0)] public int Int;
            [FieldOffset(0)] public float Float;
        }

        public static int Int32BE(byte[] d, int at)
        {
            return (d[at] << 24) | (d[at + 1] << 16) | (d[at + 2] << 8) | d[at + 3];
        }

        public static int Int32LE(byte[] d, int at)
        {
            return d[at] | (d[at + 1] << 8) | (d[at + 2] << 16) | (d[at + 3] << 24);
        }

        public static ushort UInt16BE(byte[] d, int at)
        {
            return (ushort)((d[at] << 8) | d[at + 1]);
        }

        public static uint UInt32BE(byte[] d, int at)
        {
            return (uint)Int32BE(d, at);
        }

        public static ulong UInt64BE(byte[] d, int at)
        {
            return ((ulong)UInt32BE(d, at) << 32) | UInt32BE(d, at + 4);
        }

        public static float FloatBE(byte[] d, int at)
        {
            var bits = new FloatBits { Int = Int32BE(d, at) };
            return bits.Float;
        }

        public static float FloatLE(byte[] d, int at)
        {
            var bits = new FloatBits { Int = Int32LE(d, at) };
            return bits.Float;
        }

        public static double DoubleBE(byte[] d, int at)
        {
            return BitConverter.Int64BitsToDouble((long)UInt64BE(d, at));
        }

        public static bool IsFinite(float x)
        {
            return !float.IsNaN(x) && !float.IsInfinity(x);
        }

        public static bool IsFinite(double x)
        {
            return !double.IsNaN(x) && !double.IsInfinity(x);
        }

        /// <summary>Whether d[at..at+length) holds exactly the bytes of `other`.</summary>
        public static bool Equal(byte[] d, int at, int length, byte[] other)
        {
            if (length != other.Length) return false;
            for (int i = 0; i < length; i++)
                if (d[at + i] != other[i]) return false;
            return true;
        }

        public static bool Equal(byte[] a, int aAt, byte[] b, int bAt, int length)
        {
            for (int i = 0; i < length; i++)
                if (a[aAt + i] != b[bAt + i]) return false;
            return true;
        }

        /// <summary>Strict UTF-8 (Unicode table 3-7): no overlong forms, no surrogates, nothing
        /// past U+10FFFF — what Python's decoder accepts, so both readers agree on every name.</summary>
        public static bool IsValidUtf8(byte[] d, int at, int length)
        {
            int i = at, end = at + length;
            while (i < end)
            {
                int b = d[i];
                if (b < 0x80) { i++; continue; }
                int more, lo = 0x80, hi = 0xBF;
                if (b >= 0xC2 && b <= 0xDF) more = 1;
                else if (b == 0xE0) { more = 2; lo = 0xA0; }
                else if (b == 0xED) { more = 2; hi = 0x9F; }
                else if (b >= 0xE1 && b <= 0xEF) more = 2;
                else if (b == 0xF0) { more = 3; lo = 0x90; }
                else if (b >= 0xF1 && b <= 0xF3) more = 3;
                else if (b == 0xF4) { more = 3; hi = 0x8F; }
                else return false;
                if (i + more >= end) return false; // the sequence runs past the string
                int c = d[i + 1];
                if (c < lo || c > hi) return false;
                for (int k = 2; k <= more; k++)
                    if ((d[i + k] & 0xC0) != 0x80) return false;
                i += more + 1;
            }
            return true;
        }
    }
}
