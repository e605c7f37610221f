namespace Emorig.Bridge.Core
{
    /// <summary>One OSC 1.0 message inside a byte array, checked and located but not copied.
    /// TryParse checks the whole layout (address, type tags, every argument's size, nothing left
    /// over), so the readers after it cannot run off the end.</summary>
    public struct OscMessageView
    {
        public byte[] Data;
        public int Start, End;
        public int AddressStart, AddressLength;
        /// <summary>Whether the message has a type tag string at all (OSC 1.0 allows leaving it out).</summary>
        public bool HasTags;
        /// <summary>Where the type tags start, after the comma; TagCount 0 when there are none.</summary>
        public int TagsStart, TagCount;
        public int ArgsStart;

        public byte Tag(int i)
        {
            return Data[TagsStart + i];
        }

        /// <summary>Whether the type tags (without the comma) start with `prefix`.</summary>
        public bool TagsStartWith(string prefix)
        {
            if (TagCount < prefix.Length) return false;
            for (int i = 0; i < prefix.Length; i++)
                if (Data[TagsStart + i] != prefix[i]) return false;
            return true;
        }

        /// <summary>Whether every type tag from `from` on is `tag`.</summary>
        public bool AllTags(char tag, int from)
        {
            for (int i = from; i < TagCount; i++)
                if (Data[TagsStart + i] != tag) return false;
            return true;
        }

        public OscArgReader Args()
        {
            return new OscArgReader(Data, ArgsStart, End);
        }

        /// <summary>Checks data[start..end) is exactly one OSC message: an address starting with
        /// '/', then optionally a type tag string starting with ',' and the arguments it declares,
        /// all padded to 4 bytes, strings valid UTF-8. Type tags this reader cannot size fail it.</summary>
        public static bool TryParse(byte[] data, int start, int end, out OscMessageView m)
        {
            m = new OscMessageView { Data = data, Start = start, End = end };
            int at = start;
            if (!TryParseAddress(data, ref at, end, out m.AddressStart, out m.AddressLength)) return false;
            m.ArgsStart = at;
            if (at == end) return true; // an address alone is a message with no arguments
            int tagsStart, tagsLength;
            if (!Osc.ReadString(data, ref at, end, out tagsStart, out tagsLength)) return false;
            if (tagsLength == 0 || data[tagsStart] != (byte)',') return false;
            m.HasTags = true;
            m.TagsStart = tagsStart + 1;
            m.TagCount = tagsLength - 1;
            m.ArgsStart = at;
            for (int i = 0; i < m.TagCount; i++)
                if (!Osc.SkipArgument(data, ref at, end, data[m.TagsStart + i])) return false;
            return at == end;
        }

        /// <summary>Reads just the address (for messages whose arguments we do not need).</summary>
        public static bool TryParseAddress(byte[] data, ref int at, int end, out int addressStart, out int addressLength)
        {
            if (at >= end || data[at] != (byte)'/')
            {
                addressStart = addressLength = 0;
                return false;
            }
            return Osc.ReadString(data, ref at, end, out addressStart, out addressLength);
        }
    }

    /// <summary>Reads the arguments of a parsed message in order. Only valid on a view that
    /// TryParse accepted, and only in the order of its type tags.</summary>
    public struct OscArgReader
    {
        private readonly byte[] _d;
        private int _at;
        private readonly int _end;

        public OscArgReader(byte[] data, int at, int end)
        {
            _d = data;
            _at = at;
            _end = end;
        }

        public int Position { get { return _at; } }

        public int ReadInt32()
        {
            int v = Bytes.Int32BE(_d, _at);
            _at += 4;
            return v;
        }

        public float ReadFloat()
        {
            float v = Bytes.FloatBE(_d, _at);
            _at += 4;
            return v;
        }

        public double ReadDouble()
        {
            double v = Bytes.DoubleBE(_d, _at);
            _at += 8;
            return v;
        }

        public long ReadInt64()
        {
            long v = (long)Bytes.UInt64BE(_d, _at);
            _at += 8;
            return v;
        }

        /// <summary>A string argument's bytes (already checked to be UTF-8).</summary>
        public void ReadString(out int start, out int length)
        {
            Osc.ReadString(_d, ref _at, _end, out start, out length);
        }

        /// <summary>A blob argument's bytes.</summary>
        public void ReadBlob(out int start, out int length)
        {
            length = Bytes.Int32BE(_d, _at);
            start = _at + 4;
            _at = start + ((length + 3) & ~3);
        }

        public void Skip(byte tag)
        {
            Osc.SkipArgument(_d, ref _at, _end, tag);
        }
    }

    /// <summary>OSC 1.0 framing: strings, arguments and bundles.</summary>
    public static class Osc
    {
        /// <summary>"#bundle\0", the first 8 bytes of every bundle.</summary>
        public static readonly byte[] BundleTag = { (byte)'#', (byte)'b', (byte)'u', (byte)'n', (byte)'d', (byte)'l', (byte)'e', 0 };

        /// <summary>An OSC string at `at`: bytes up to the first NUL, which with its padding must
        /// end by `end`, and valid UTF-8. Advances `at` past the padding.</summary>
        public static bool ReadString(byte[] d, ref int at, int end, out int start, out int length)
        {
            start = at;
            length = 0;
            int nul = at;
            while (nul < end && d[nul] != 0) nul++;
            if (nul >= end) return false;
            int next = start + ((nul - start + 4) & ~3); // the NUL and 0-3 more bytes, to a multiple of 4
            if (next > end || !Bytes.IsValidUtf8(d, start, nul - start)) return false;
            length = nul - start;
            at = next;
            return true;
        }

        /// <summary>Steps over one argument of type `tag`; false if it does not fit or the tag is
        /// one this reader cannot size.</summary>
        public static bool SkipArgument(byte[] d, ref int at, int end, byte tag)
        {
            int size;
            switch ((char)tag)
            {
                case 'i': case 'f': case 'c': case 'r': case 'm':
                    size = 4;
                    break;
                case 'h': case 't': case 'd':
                    size = 8;
                    break;
                case 'T': case 'F': case 'N': case 'I':
                    return true;
                case 's': case 'S':
                    int s, n;
                    return ReadString(d, ref at, end, out s, out n);
                case 'b':
                    if (end - at < 4) return false;
                    int blob = Bytes.Int32BE(d, at);
                    if (blob < 0 || blob > end - at - 4) return false;
                    size = 4 + ((blob + 3) & ~3);
                    break;
                default:
                    return false;
            }
            if (size > end - at) return false;
            at += size;
            return true;
        }

        public static bool IsBundle(byte[] d, int length)
        {
            return length >= 8 && Bytes.Equal(d, 0, BundleTag, 0, 8);
        }

        /// <summary>The next element of a bundle whose 16-byte header ends before `at`: its size
        /// must be positive, a multiple of 4 and fit in the bundle. Returns false at the end of the
        /// bundle (malformed = false) or on bad framing (malformed = true).</summary>
        public static bool NextElement(byte[] d, ref int at, int end, out int elementStart, out int elementEnd, out bool malformed)
        {
            elementStart = elementEnd = 0;
            malformed = false;
            if (at >= end) return false;
            if (end - at < 4)
            {
                malformed = true;
                return false;
            }
            int n = Bytes.Int32BE(d, at);
            if (n <= 0 || (n & 3) != 0 || n > end - at - 4)
            {
                malformed = true;
                return false;
            }
            elementStart = at + 4;
            elementEnd = elementStart + n;
            at = elementEnd;
            return true;
        }
    }
}
