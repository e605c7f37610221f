using System;
using System.Text;

namespace Emorig.Bridge.Core
{
    /// <summary>UTF-8 bytes to string without an allocation when the same text came recently.
    /// Every frame repeats its subject, rig space and emotion label; decoding them afresh would
    /// allocate three strings per frame. Single-threaded: each decoder owns one.</summary>
    internal sealed class StringCache
    {
        private readonly byte[][] _keys;
        private readonly string[] _values;
        private int _count, _next;

        public StringCache(int capacity)
        {
            _keys = new byte[capacity][];
            _values = new string[capacity];
        }

        /// <summary>The string of d[at..at+length), which the caller has checked is valid UTF-8.</summary>
        public string Get(byte[] d, int at, int length)
        {
            for (int i = 0; i < _count; i++)
            {
                byte[] k = _keys[i];
                if (k.Length == length && Bytes.Equal(d, at, k, 0, length)) return _values[i];
            }
            var key = new byte[length];
            Buffer.BlockCopy(d, at, key, 0, length);
            string value = Encoding.UTF8.GetString(d, at, length);
            // Round robin: a sender cycling through more names than fit merely allocates again.
            _keys[_next] = key;
            _values[_next] = value;
            _next = (_next + 1) % _keys.Length;
            if (_count < _keys.Length) _count++;
            return value;
        }
    }
}
