using System;
using System.IO;
using System.Text;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>ZMTP 3.0 framing and handshake against scripted peers (tests/test_unity_core.py
    /// also runs ZmqReceiver against a real pyzmq PUB socket, and emorig's own zmq:// sink).</summary>
    [TestFixture]
    public class ZmtpTests
    {
        /// <summary>Reads come from a script, at most `chunk` bytes at a time (TCP may split
        /// anywhere); writes are recorded.</summary>
        private sealed class ScriptedStream : Stream
        {
            private readonly byte[] _input;
            private int _at;
            private readonly int _chunk;
            public readonly MemoryStream Written = new MemoryStream();

            public ScriptedStream(byte[] input, int chunk = int.MaxValue)
            {
                _input = input;
                _chunk = chunk;
            }

            public override int Read(byte[] buffer, int offset, int count)
            {
                int n = Math.Min(Math.Min(count, _chunk), _input.Length - _at);
                Buffer.BlockCopy(_input, _at, buffer, offset, n);
                _at += n;
                return n;
            }

            public override void Write(byte[] buffer, int offset, int count) { Written.Write(buffer, offset, count); }
            public override void Flush() { }
            public override bool CanRead { get { return true; } }
            public override bool CanWrite { get { return true; } }
            public override bool CanSeek { get { return false; } }
            public override long Length { get { throw new NotSupportedException(); } }
            public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
            public override long Seek(long o, SeekOrigin s) { throw new NotSupportedException(); }
            public override void SetLength(long v) { throw new NotSupportedException(); }
        }

        private static byte[] PeerGreeting(string mechanism = "NULL", byte major = 3, byte minor = 1)
        {
            byte[] g = ZmtpConnection.Greeting();
            g[10] = major;
            g[11] = minor;
            Array.Clear(g, 12, 20);
            Encoding.ASCII.GetBytes(mechanism, 0, mechanism.Length, g, 12);
            g[32] = 1; // as-server
            return g;
        }

        private static byte[] Frame(byte flags, byte[] body)
        {
            var s = new MemoryStream();
            if (body.Length > 255)
            {
                s.WriteByte((byte)(flags | 2));
                for (int i = 7; i >= 0; i--) s.WriteByte((byte)((long)body.Length >> (8 * i)));
            }
            else
            {
                s.WriteByte(flags);
                s.WriteByte((byte)body.Length);
            }
            s.Write(body, 0, body.Length);
            return s.ToArray();
        }

        private static byte[] Concat(params byte[][] parts)
        {
            var s = new MemoryStream();
            foreach (byte[] p in parts) s.Write(p, 0, p.Length);
            return s.ToArray();
        }

        private static byte[] Ascii(string s) { return Encoding.ASCII.GetBytes(s); }

        private static byte[] Ready(string socketType) { return ZmtpConnection.ReadyCommand(socketType); }

        [Test]
        public void GreetingAndReadyAreExactlyRfc23()
        {
            byte[] g = ZmtpConnection.Greeting();
            Assert.AreEqual(64, g.Length);
            Assert.AreEqual(0xFF, g[0]);
            Assert.AreEqual(0x7F, g[9]);
            Assert.AreEqual(new byte[] { 3, 0 }, new[] { g[10], g[11] });
            Assert.AreEqual("NULL", Encoding.ASCII.GetString(g, 12, 4));
            Assert.AreEqual(0, g[32]); // as-server: we are the client
            byte[] ready = Ready("SUB");
            // flags COMMAND, size 25, "\x05READY", "\x0bSocket-Type", 00 00 00 03 "SUB"
            Assert.AreEqual(Concat(new byte[] { 4, 25, 5 }, Ascii("READY"), new byte[] { 11 }, Ascii("Socket-Type"),
                new byte[] { 0, 0, 0, 3 }, Ascii("SUB")), ready);
            Assert.AreEqual(Concat(new byte[] { 0, 4, 1 }, Ascii("Ada")), ZmtpConnection.SubscribeMessage(Ascii("Ada")));
            Assert.AreEqual(new byte[] { 0, 1, 1 }, ZmtpConnection.SubscribeMessage(new byte[0]));
        }

        [Test]
        public void HandshakeThenMultipartMessagesOneByteAtATime()
        {
            byte[] big = new byte[70000];
            big[69999] = 7;
            byte[] script = Concat(PeerGreeting(), Ready("PUB"),
                Frame(1, Ascii("Ada")), Frame(0, Ascii("payload")),
                Frame(4, Concat(new byte[] { 4 }, Ascii("PING"))), // a command mid-stream: skipped by readers
                Frame(1, Ascii("Ada")), Frame(0, big));
            var stream = new ScriptedStream(script, 1);
            var z = new ZmtpConnection(stream);
            z.Handshake();
            Assert.AreEqual("PUB", z.PeerSocketType);
            Assert.AreEqual(3, z.PeerMajor);
            Assert.AreEqual(Concat(ZmtpConnection.Greeting(), Ready("SUB")), stream.Written.ToArray());

            var buffer = new byte[4];
            int n;
            bool more, command;
            z.ReadFrame(ref buffer, out n, out more, out command);
            Assert.AreEqual("Ada", Encoding.ASCII.GetString(buffer, 0, n));
            Assert.IsTrue(more);
            z.ReadFrame(ref buffer, out n, out more, out command);
            Assert.AreEqual("payload", Encoding.ASCII.GetString(buffer, 0, n));
            Assert.IsFalse(more);
            z.ReadFrame(ref buffer, out n, out more, out command);
            Assert.IsTrue(command);
            Assert.AreEqual("PING", ZmtpConnection.CommandName(buffer, n));
            z.ReadFrame(ref buffer, out n, out more, out command);
            z.ReadFrame(ref buffer, out n, out more, out command);
            Assert.AreEqual(70000, n);
            Assert.AreEqual(7, buffer[69999]);
            Assert.Throws<EndOfStreamException>(() => z.ReadFrame(ref buffer, out n, out more, out command));
        }

        [Test]
        public void WrongPeersAreRefusedWithAReason()
        {
            ExpectRefusal(Concat(PeerGreeting("CURVE"), Ready("PUB")), "CURVE");
            ExpectRefusal(Concat(PeerGreeting(major: 2), Ready("PUB")), "ZMTP 2");
            ExpectRefusal(Concat(PeerGreeting(), Ready("REP")), "REP socket");
            ExpectRefusal(Concat(PeerGreeting(), Frame(4, Concat(new byte[] { 5 }, Ascii("ERROR"), new byte[] { 4 }, Ascii("nope")))), "nope");
            ExpectRefusal(Concat(Ascii("HTTP/1.1 400 Bad Request\r\n\r\n"), new byte[64]), "signature");
            ExpectRefusal(Concat(PeerGreeting(), Frame(0, Ascii("early"))), "before READY");
        }

        private static void ExpectRefusal(byte[] script, string reason)
        {
            var z = new ZmtpConnection(new ScriptedStream(script));
            var e = Assert.Throws<ZmtpException>(z.Handshake);
            StringAssert.Contains(reason, e.Message);
        }

        [Test]
        public void MalformedFramesEndTheConnection()
        {
            var buffer = new byte[16];
            int n;
            bool more, command;
            byte[] tooBig = { 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff };
            var z = new ZmtpConnection(new ScriptedStream(tooBig));
            Assert.Throws<ZmtpException>(() => z.ReadFrame(ref buffer, out n, out more, out command));
            z = new ZmtpConnection(new ScriptedStream(new byte[] { 0x10, 0 }));
            Assert.Throws<ZmtpException>(() => z.ReadFrame(ref buffer, out n, out more, out command));
            z = new ZmtpConnection(new ScriptedStream(new byte[] { 0, 5, 1, 2 }));
            Assert.Throws<EndOfStreamException>(() => z.ReadFrame(ref buffer, out n, out more, out command));
        }

        [Test]
        public void ReadyPropertiesAreCaseInsensitive()
        {
            byte[] body = Concat(new byte[] { 5 }, Ascii("READY"), new byte[] { 8 }, Ascii("Identity"), new byte[] { 0, 0, 0, 0 },
                new byte[] { 11 }, Ascii("socket-type"), new byte[] { 0, 0, 0, 4 }, Ascii("XPUB"));
            Assert.AreEqual("XPUB", ZmtpConnection.ReadyProperty(body, body.Length, "Socket-Type"));
            Assert.IsNull(ZmtpConnection.ReadyProperty(body, body.Length, "Resource"));
        }
    }
}
