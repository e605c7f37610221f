using System.Collections.Generic;
using System.Text;

namespace Emorig.Bridge.Core
{
    /// <summary>One OSC message read generically: address, type tags, arguments as objects.</summary>
    public sealed class OscMessage
    {
        public string Address;
        /// <summary>With the leading comma, e.g. ",ids"; "" for a message without type tags.</summary>
        public string TypeTags;
        /// <summary>int, long (h), float, double, string, byte[] (b), bool (T/F), null (N),
        /// ulong (t), or the raw int of c/r/m.</summary>
        public readonly List<object> Args = new List<object>();
    }

    /// <summary>Any OSC datagram read into objects, for tools and tests (the frame path uses
    /// OscCompactDecoder, which allocates nothing). Bundles nested in bundles are flattened.</summary>
    public static class OscPacket
    {
        private const int MaxNesting = 8;

        /// <summary>The messages of data[0..length), and the outer bundle's time tag (null for a
        /// lone message); false if anything in it is malformed.</summary>
        public static bool TryRead(byte[] data, int length, out ulong? timeTag, out List<OscMessage> messages)
        {
            messages = new List<OscMessage>();
            timeTag = null;
            if (Osc.IsBundle(data, length))
            {
                if (length < 16) return false;
                timeTag = Bytes.UInt64BE(data, 8);
            }
            return Read(data, 0, length, messages, 0);
        }

        private static bool Read(byte[] d, int start, int end, List<OscMessage> into, int depth)
        {
            if (end - start >= 8 && Bytes.Equal(d, start, Osc.BundleTag, 0, 8))
            {
                if (end - start < 16 || depth >= MaxNesting) return false;
                int at = start + 16, s, e;
                bool malformed;
                while (Osc.NextElement(d, ref at, end, out s, out e, out malformed))
                    if (!Read(d, s, e, into, depth + 1)) return false;
                return !malformed;
            }
            OscMessageView m;
            if (!OscMessageView.TryParse(d, start, end, out m)) return false;
            var msg = new OscMessage
            {
                Address = Encoding.UTF8.GetString(d, m.AddressStart, m.AddressLength),
                TypeTags = m.HasTags ? "," + Encoding.ASCII.GetString(d, m.TagsStart, m.TagCount) : "",
            };
            var args = m.Args();
            for (int i = 0; i < m.TagCount; i++)
            {
                byte tag = m.Tag(i);
                int s, n;
                switch ((char)tag)
                {
                    case 'i': msg.Args.Add(args.ReadInt32()); break;
                    case 'c': case 'r': case 'm': msg.Args.Add(args.ReadInt32()); break;
                    case 'f': msg.Args.Add(args.ReadFloat()); break;
                    case 'd': msg.Args.Add(args.ReadDouble()); break;
                    case 'h': msg.Args.Add(args.ReadInt64()); break;
                    case 't': msg.Args.Add((ulong)args.ReadInt64()); break;
                    case 's': case 'S':
                        args.ReadString(out s, out n);
                        msg.Args.Add(Encoding.UTF8.GetString(d, s, n));
                        break;
                    case 'b':
                        args.ReadBlob(out s, out n);
                        var blob = new byte[n];
                        System.Buffer.BlockCopy(d, s, blob, 0, n);
                        msg.Args.Add(blob);
                        break;
                    case 'T': msg.Args.Add(true); break;
                    case 'F': msg.Args.Add(false); break;
                    default: msg.Args.Add(null); break; // N, I
                }
            }
            into.Add(msg);
            return true;
        }
    }
}
