using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>Builds OSC messages and bundles for tests that need inputs the golden vectors do not
    /// hold. Arguments: int 'i', float 'f', double 'd', string 's', or a (char tag, object) pair.</summary>
    public static class OscWriter
    {
        public static byte[] Message(string address, string tags, params object[] args)
        {
            var s = new MemoryStream();
            String(s, address);
            if (tags != null) String(s, "," + tags);
            int a = 0;
            foreach (char t in tags ?? "")
            {
                switch (t)
                {
                    case 'i': Int(s, (int)args[a++]); break;
                    case 'f': Int(s, BitConverter.ToInt32(BitConverter.GetBytes((float)args[a++]), 0)); break;
                    case 'd': Long(s, BitConverter.DoubleToInt64Bits((double)args[a++])); break;
                    case 'h': Long(s, (long)args[a++]); break;
                    case 's': String(s, (string)args[a++]); break;
                    case 'b':
                        var blob = (byte[])args[a++];
                        Int(s, blob.Length);
                        s.Write(blob, 0, blob.Length);
                        while (s.Length % 4 != 0) s.WriteByte(0);
                        break;
                }
            }
            return s.ToArray();
        }

        public static byte[] Bundle(ulong timeTag, params byte[][] elements)
        {
            var s = new MemoryStream();
            s.Write(Osc.BundleTag, 0, 8);
            Long(s, (long)timeTag);
            foreach (byte[] e in elements)
            {
                Int(s, e.Length);
                s.Write(e, 0, e.Length);
            }
            return s.ToArray();
        }

        /// <summary>A names message: schema, space, fps, curves.</summary>
        public static byte[] Names(string subject, string space, float fps, IList<string> curves, int schema = 1)
        {
            var args = new List<object> { schema, space, fps };
            foreach (string c in curves) args.Add(c);
            return Message("/emorig/" + subject + "/names", "isf" + new string('s', curves.Count), args.ToArray());
        }

        /// <summary>A frame bundle: /frame, /values, /emotion (happy, 0.5, one-hot).</summary>
        public static byte[] Frame(string subject, int number, double time, string space, float[] values, bool emotion = true)
        {
            var v = new object[values.Length];
            for (int i = 0; i < values.Length; i++) v[i] = values[i];
            string root = "/emorig/" + subject;
            var parts = new List<byte[]>
            {
                Message(root + "/frame", "ids", number, time, space),
                Message(root + "/values", new string('f', values.Length), v),
            };
            if (emotion)
                parts.Add(Message(root + "/emotion", "sfffffffff", "happy", 0.5f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, 0f));
            return Bundle(1, parts.ToArray());
        }

        private static void String(Stream s, string text)
        {
            byte[] b = Encoding.UTF8.GetBytes(text);
            s.Write(b, 0, b.Length);
            int pad = 4 - b.Length % 4;
            for (int i = 0; i < pad; i++) s.WriteByte(0);
        }

        private static void Int(Stream s, int v)
        {
            for (int i = 3; i >= 0; i--) s.WriteByte((byte)(v >> (8 * i)));
        }

        private static void Long(Stream s, long v)
        {
            for (int i = 7; i >= 0; i--) s.WriteByte((byte)(v >> (8 * i)));
        }
    }

    /// <summary>Builds msgpack for tests: a map from alternating keys and values, in the order
    /// given. Values: null, bool, int/long (smallest encoding), ulong, float (float32), double,
    /// string, byte[] (bin), object[] (array), or Raw bytes written as they are.</summary>
    public static class MsgPackWriter
    {
        public sealed class Raw
        {
            public byte[] Bytes;
            public Raw(params byte[] bytes) { Bytes = bytes; }
        }

        public static byte[] Map(params object[] keysAndValues)
        {
            var s = new MemoryStream();
            WriteMap(s, keysAndValues);
            return s.ToArray();
        }

        public static byte[] Value(object v)
        {
            var s = new MemoryStream();
            Write(s, v);
            return s.ToArray();
        }

        private static void WriteMap(Stream s, object[] kv)
        {
            int n = kv.Length / 2;
            if (n < 16) s.WriteByte((byte)(0x80 | n));
            else { s.WriteByte(0xde); Be(s, (ulong)n, 2); }
            for (int i = 0; i < kv.Length; i++) Write(s, kv[i]);
        }

        /// <summary>A float32 array as little-endian bytes, as emorig's `values`.</summary>
        public static byte[] FloatsLE(params float[] values)
        {
            var b = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++)
            {
                int bits = BitConverter.ToInt32(BitConverter.GetBytes(values[i]), 0);
                for (int k = 0; k < 4; k++) b[4 * i + k] = (byte)(bits >> (8 * k));
            }
            return b;
        }

        private static void Write(Stream s, object v)
        {
            if (v == null) { s.WriteByte(0xc0); return; }
            if (v is Raw) { var r = ((Raw)v).Bytes; s.Write(r, 0, r.Length); return; }
            if (v is bool) { s.WriteByte((bool)v ? (byte)0xc3 : (byte)0xc2); return; }
            if (v is int) v = (long)(int)v;
            if (v is long)
            {
                long x = (long)v;
                if (x >= 0) { WriteUInt(s, (ulong)x); return; }
                if (x >= -32) { s.WriteByte((byte)(sbyte)x); return; }
                if (x >= sbyte.MinValue) { s.WriteByte(0xd0); Be(s, (ulong)x, 1); return; }
                if (x >= short.MinValue) { s.WriteByte(0xd1); Be(s, (ulong)x, 2); return; }
                if (x >= int.MinValue) { s.WriteByte(0xd2); Be(s, (ulong)x, 4); return; }
                s.WriteByte(0xd3); Be(s, (ulong)x, 8); return;
            }
            if (v is ulong) { WriteUInt(s, (ulong)v); return; }
            if (v is float) { s.WriteByte(0xca); Be(s, (ulong)(uint)BitConverter.ToInt32(BitConverter.GetBytes((float)v), 0), 4); return; }
            if (v is double) { s.WriteByte(0xcb); Be(s, (ulong)BitConverter.DoubleToInt64Bits((double)v), 8); return; }
            if (v is string)
            {
                byte[] b = Encoding.UTF8.GetBytes((string)v);
                if (b.Length < 32) s.WriteByte((byte)(0xa0 | b.Length));
                else if (b.Length < 256) { s.WriteByte(0xd9); Be(s, (ulong)b.Length, 1); }
                else { s.WriteByte(0xda); Be(s, (ulong)b.Length, 2); }
                s.Write(b, 0, b.Length);
                return;
            }
            if (v is byte[])
            {
                byte[] b = (byte[])v;
                if (b.Length < 256) { s.WriteByte(0xc4); Be(s, (ulong)b.Length, 1); }
                else { s.WriteByte(0xc5); Be(s, (ulong)b.Length, 2); }
                s.Write(b, 0, b.Length);
                return;
            }
            if (v is object[])
            {
                var a = (object[])v;
                if (a.Length < 16) s.WriteByte((byte)(0x90 | a.Length));
                else { s.WriteByte(0xdc); Be(s, (ulong)a.Length, 2); }
                foreach (object x in a) Write(s, x);
                return;
            }
            throw new ArgumentException("cannot write " + v.GetType());
        }

        private static void WriteUInt(Stream s, ulong x)
        {
            if (x < 128) { s.WriteByte((byte)x); return; }
            if (x <= byte.MaxValue) { s.WriteByte(0xcc); Be(s, x, 1); return; }
            if (x <= ushort.MaxValue) { s.WriteByte(0xcd); Be(s, x, 2); return; }
            if (x <= uint.MaxValue) { s.WriteByte(0xce); Be(s, x, 4); return; }
            s.WriteByte(0xcf); Be(s, x, 8);
        }

        private static void Be(Stream s, ulong v, int bytes)
        {
            for (int i = bytes - 1; i >= 0; i--) s.WriteByte((byte)(v >> (8 * i)));
        }
    }
}
