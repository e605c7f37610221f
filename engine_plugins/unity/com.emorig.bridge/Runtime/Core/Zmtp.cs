using System;
using System.IO;
using System.Text;

namespace Emorig.Bridge.Core
{
    public sealed class ZmtpException : IOException
    {
        public ZmtpException(string message) : base(message) { }
    }

    /// <summary>The client side of a ZeroMQ SUB connection, ZMTP 3.0 (rfc.zeromq.org/spec/23) with
    /// the NULL security mechanism, over any Stream (a TCP NetworkStream in ZmqReceiver, a scripted
    /// stream in tests). It is all a subscriber needs to read emorig's PUB socket:
    ///
    ///   greeting   64 bytes each way: signature FF 00*8 7F, version 3.0, mechanism "NULL",
    ///              as-server 0, filler;
    ///   handshake  each side sends a READY command carrying Socket-Type (ours "SUB", theirs
    ///              "PUB" or "XPUB");
    ///   subscribe  a message frame 0x01 + topic prefix (ZMTP 3.0's form; 3.1 peers accept it too);
    ///   frames     flags (MORE 1, LONG 2, COMMAND 4), a 1- or 8-byte big-endian size, the body.
    ///
    /// We announce 3.0, so a newer libzmq peer talks 3.0 to us and sends no heartbeats. Not
    /// thread-safe: one receiver thread owns a connection.</summary>
    public sealed class ZmtpConnection
    {
        /// <summary>Larger frames end the connection: emorig's largest message (a MetaHuman static)
        /// is about 9 KB, so this only ever catches a wrong peer.</summary>
        public const int MaxFrameBytes = 4 << 20;

        private const byte FlagMore = 1, FlagLong = 2, FlagCommand = 4;

        private readonly Stream _stream;
        private readonly byte[] _header = new byte[9];

        public ZmtpConnection(Stream stream)
        {
            _stream = stream;
        }

        /// <summary>The peer's ZMTP version (major, minor) and Socket-Type, after Handshake.</summary>
        public int PeerMajor { get; private set; }
        public int PeerMinor { get; private set; }
        public string PeerSocketType { get; private set; }

        /// <summary>Our greeting: ZMTP 3.0, NULL mechanism, client.</summary>
        public static byte[] Greeting()
        {
            var g = new byte[64];
            g[0] = 0xFF;
            g[9] = 0x7F;
            g[10] = 3; // version 3.0
            g[11] = 0;
            Encoding.ASCII.GetBytes("NULL", 0, 4, g, 12);
            return g;
        }

        /// <summary>READY with one property, Socket-Type.</summary>
        public static byte[] ReadyCommand(string socketType)
        {
            var body = new MemoryStream();
            WriteShortString(body, "READY");
            WriteShortString(body, "Socket-Type");
            byte[] value = Encoding.ASCII.GetBytes(socketType);
            body.WriteByte(0);
            body.WriteByte(0);
            body.WriteByte(0);
            body.WriteByte((byte)value.Length);
            body.Write(value, 0, value.Length);
            return Frame(FlagCommand, body.ToArray());
        }

        /// <summary>A subscription message (ZMTP 3.0): 0x01 then the topic prefix ("" = everything).</summary>
        public static byte[] SubscribeMessage(byte[] prefix)
        {
            var body = new byte[prefix.Length + 1];
            body[0] = 1;
            Buffer.BlockCopy(prefix, 0, body, 1, prefix.Length);
            return Frame(0, body);
        }

        /// <summary>Greeting and NULL handshake as a SUB socket. Throws ZmtpException if the peer is
        /// not a ZMTP 3 PUB/XPUB socket without security, IOException if the stream fails.</summary>
        public void Handshake()
        {
            byte[] greeting = Greeting();
            _stream.Write(greeting, 0, greeting.Length);
            _stream.Flush();
            var peer = new byte[64];
            ReadExactly(peer, 0, 64);
            if (peer[0] != 0xFF || peer[9] != 0x7F) throw new ZmtpException("not a ZeroMQ peer (bad greeting signature)");
            PeerMajor = peer[10];
            PeerMinor = peer[11];
            if (PeerMajor < 3) throw new ZmtpException("peer speaks ZMTP " + PeerMajor + "." + PeerMinor + "; 3.0 or newer is needed");
            string mechanism = Encoding.ASCII.GetString(peer, 12, 20).TrimEnd('\0');
            if (mechanism != "NULL")
                throw new ZmtpException("peer wants the " + mechanism + " security mechanism; emorig streams use NULL (no security)");

            byte[] ready = ReadyCommand("SUB");
            _stream.Write(ready, 0, ready.Length);
            _stream.Flush();

            byte[] body = new byte[256];
            bool more, command;
            int length;
            ReadFrame(ref body, out length, out more, out command);
            if (!command) throw new ZmtpException("peer sent a message before READY");
            string name = CommandName(body, length);
            if (name == "ERROR") throw new ZmtpException("peer refused the connection: " + ErrorReason(body, length));
            if (name != "READY") throw new ZmtpException("peer sent " + name + " instead of READY");
            PeerSocketType = ReadyProperty(body, length, "Socket-Type");
            if (PeerSocketType != "PUB" && PeerSocketType != "XPUB")
                throw new ZmtpException("peer is a " + (PeerSocketType ?? "?") + " socket, not PUB: is this an emorig zmq:// sink?");
        }

        public void Subscribe(byte[] prefix)
        {
            byte[] m = SubscribeMessage(prefix);
            _stream.Write(m, 0, m.Length);
            _stream.Flush();
        }

        /// <summary>Reads one frame into `buffer` (grown if needed). Throws on a malformed header,
        /// a frame over MaxFrameBytes, or the end of the stream.</summary>
        public void ReadFrame(ref byte[] buffer, out int length, out bool more, out bool command)
        {
            ReadExactly(_header, 0, 2);
            byte flags = _header[0];
            if ((flags & ~(FlagMore | FlagLong | FlagCommand)) != 0) throw new ZmtpException("bad frame flags 0x" + flags.ToString("x2"));
            command = (flags & FlagCommand) != 0;
            more = (flags & FlagMore) != 0;
            if (command && more) throw new ZmtpException("a command frame with MORE set");
            long size = _header[1];
            if ((flags & FlagLong) != 0)
            {
                ReadExactly(_header, 2, 7);
                size = 0;
                for (int i = 1; i < 9; i++) size = (size << 8) | _header[i];
                if (size < 0 || size > MaxFrameBytes) throw new ZmtpException("frame of " + (ulong)size + " bytes is over the limit");
            }
            length = (int)size;
            if (buffer.Length < length) buffer = new byte[Math.Max(length, buffer.Length * 2)];
            ReadExactly(buffer, 0, length);
        }

        /// <summary>The name of a command frame's body.</summary>
        public static string CommandName(byte[] body, int length)
        {
            if (length < 1 || body[0] > length - 1) throw new ZmtpException("malformed command");
            return Encoding.ASCII.GetString(body, 1, body[0]);
        }

        private static string ErrorReason(byte[] body, int length)
        {
            int at = 1 + body[0];
            if (at >= length || body[at] > length - at - 1) return "(no reason)";
            return Encoding.ASCII.GetString(body, at + 1, body[at]);
        }

        /// <summary>A property's value in a READY command's metadata, or null.</summary>
        public static string ReadyProperty(byte[] body, int length, string property)
        {
            int at = 1 + body[0];
            while (at < length)
            {
                int nameLength = body[at];
                if (at + 1 + nameLength + 4 > length) throw new ZmtpException("malformed READY metadata");
                string name = Encoding.ASCII.GetString(body, at + 1, nameLength);
                at += 1 + nameLength;
                long valueLength = (uint)Bytes.Int32BE(body, at);
                at += 4;
                if (valueLength > length - at) throw new ZmtpException("malformed READY metadata");
                // Property names are case-insensitive (rfc 23).
                if (string.Equals(name, property, StringComparison.OrdinalIgnoreCase))
                    return Encoding.ASCII.GetString(body, at, (int)valueLength);
                at += (int)valueLength;
            }
            return null;
        }

        private void ReadExactly(byte[] buffer, int offset, int count)
        {
            while (count > 0)
            {
                int n = _stream.Read(buffer, offset, count);
                if (n <= 0) throw new EndOfStreamException("the peer closed the connection");
                offset += n;
                count -= n;
            }
        }

        private static byte[] Frame(byte flags, byte[] body)
        {
            bool isLong = body.Length > 255;
            var f = new byte[(isLong ? 9 : 2) + body.Length];
            f[0] = (byte)(flags | (isLong ? FlagLong : 0));
            if (isLong)
                for (int i = 0; i < 8; i++) f[1 + i] = (byte)((ulong)body.Length >> (56 - 8 * i));
            else
                f[1] = (byte)body.Length;
            Buffer.BlockCopy(body, 0, f, isLong ? 9 : 2, body.Length);
            return f;
        }

        private static void WriteShortString(Stream s, string text)
        {
            byte[] b = Encoding.ASCII.GetBytes(text);
            s.WriteByte((byte)b.Length);
            s.Write(b, 0, b.Length);
        }
    }
}
