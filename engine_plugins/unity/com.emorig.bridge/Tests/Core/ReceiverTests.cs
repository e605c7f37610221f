using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>The receivers on real loopback sockets. (tests/test_unity_core.py runs them
    /// against emorig's own sinks and a pyzmq PUB socket as well.)</summary>
    [TestFixture]
    public class ReceiverTests
    {
        private static FaceFrame WaitForFrame(Receiver r, string subject, long minSequence = 1, int ms = 5000)
        {
            var clock = Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < ms)
            {
                Subject s = r.Subjects.Find(subject);
                FaceFrame f = s == null ? null : s.Latest();
                if (f != null && f.Sequence >= minSequence) return f;
                Thread.Sleep(5);
            }
            Assert.Fail("no frame for " + subject + " within " + ms + " ms; " + r.Stats.Summary() + "; " + r.LastError);
            return null;
        }

        [Test]
        public void OscReceiverOnLoopback()
        {
            using (var r = new OscReceiver(0))
            using (var udp = new UdpClient())
            {
                Assert.IsTrue(r.Start(), r.LastError);
                Assert.AreEqual(Receiver.ReceiverState.Running, r.State);
                var to = new IPEndPoint(IPAddress.Loopback, r.BoundPort);
                byte[] names = OscWriter.Names("Ada", "arkit", 60, KnownCurves.Arkit);
                var values = new float[52];
                values[17] = 0.75f;
                byte[] frame = OscWriter.Frame("Ada", 5, 5 / 60.0, "arkit", values);
                udp.Send(names, names.Length, to);
                udp.Send(new byte[] { 1, 2, 3 }, 3, to); // junk on the port: counted, harmless
                udp.Send(frame, frame.Length, to);
                FaceFrame f = WaitForFrame(r, "Ada");
                Assert.AreEqual(5, f.Number);
                Assert.AreEqual(0.75f, f.Values[17]);
                Assert.AreEqual("jawOpen", f.Layout.Curves[17]);
                Assert.AreEqual(1, r.Stats.Dropped);

                // The same port twice cannot work: the second one says so instead of throwing.
                using (var second = new OscReceiver(r.BoundPort))
                {
                    Assert.IsFalse(second.Start());
                    Assert.AreEqual(Receiver.ReceiverState.Failed, second.State);
                    StringAssert.Contains("cannot listen on udp 127.0.0.1:" + r.BoundPort, second.LastError);
                }
                r.Stop();
                Assert.AreEqual(Receiver.ReceiverState.Stopped, r.State);
            }
        }

        /// <summary>A minimal ZMTP 3.0 PUB peer written from rfc 23, to check ZmqReceiver's loop
        /// (connect, subscribe, read, reconnect) without pyzmq.</summary>
        private sealed class FakePublisher : IDisposable
        {
            private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
            public int Port { get { return ((IPEndPoint)_listener.LocalEndpoint).Port; } }
            public FakePublisher() { _listener.Start(); }

            /// <summary>Accepts one subscriber, checks its greeting, READY and subscription, sends
            /// `messages` (each topic + payload), then closes the connection.</summary>
            public string Serve(byte[][] messages)
            {
                using (TcpClient client = _listener.AcceptTcpClient())
                using (NetworkStream s = client.GetStream())
                {
                    var greeting = new byte[64];
                    ReadExactly(s, greeting);
                    byte[] ours = ZmtpConnection.Greeting();
                    ours[32] = 1;
                    s.Write(ours, 0, 64);
                    byte[] ready = ZmtpConnection.ReadyCommand("SUB");
                    var got = new byte[ready.Length];
                    ReadExactly(s, got);
                    if (Convert.ToBase64String(got) != Convert.ToBase64String(ready)) return "bad READY from the receiver";
                    byte[] pubReady = ZmtpConnection.ReadyCommand("PUB");
                    s.Write(pubReady, 0, pubReady.Length);
                    var sub = new byte[2];
                    ReadExactly(s, sub);
                    var topic = new byte[sub[1]];
                    ReadExactly(s, topic);
                    for (int i = 0; i < messages.Length; i += 2)
                    {
                        s.Write(new byte[] { 1, (byte)messages[i].Length }, 0, 2);
                        s.Write(messages[i], 0, messages[i].Length);
                        byte[] p = messages[i + 1];
                        s.Write(new byte[] { 2, 0, 0, 0, 0, 0, 0, (byte)(p.Length >> 8), (byte)p.Length }, 0, 9);
                        s.Write(p, 0, p.Length);
                    }
                    s.Flush();
                    Thread.Sleep(200);
                    return "subscribed to '" + Encoding.UTF8.GetString(topic, 1, topic.Length - 1) + "'";
                }
            }

            private static void ReadExactly(Stream s, byte[] b)
            {
                int at = 0;
                while (at < b.Length)
                {
                    int n = s.Read(b, at, b.Length - at);
                    if (n <= 0) throw new EndOfStreamException();
                    at += n;
                }
            }

            public void Dispose() { _listener.Stop(); }
        }

        [Test]
        public void ZmqReceiverSubscribesReadsAndReconnects()
        {
            byte[] staticMsg = null, frameMsg = null;
            foreach (Vector v in Vectors.OfFormat("zmq"))
            {
                if (v.Name == "zmq_static") staticMsg = v.Bytes;
                if (v.Name == "zmq_frame") frameMsg = v.Bytes;
            }
            byte[] ada = Encoding.UTF8.GetBytes("Ada");
            using (var pub = new FakePublisher())
            using (var r = new ZmqReceiver("localhost", pub.Port, "Ada"))
            {
                Assert.IsTrue(r.Start());
                Assert.AreEqual("subscribed to 'Ada'", pub.Serve(new[] { ada, staticMsg, ada, frameMsg }));
                Assert.AreEqual(1234, WaitForFrame(r, "Ada").Number);
                // The publisher went away; the receiver comes back by itself.
                Assert.AreEqual("subscribed to 'Ada'", pub.Serve(new[] { ada, frameMsg }));
                WaitForFrame(r, "Ada", 2);
                Assert.That(r.Connections, Is.GreaterThanOrEqualTo(2));
                r.Stop();
            }
        }

        [Test]
        public void ZmqReceiverWaitsForAPublisherAndStopsPromptly()
        {
            int port;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop(); // nothing listens there now
            var r = new ZmqReceiver("127.0.0.1", port);
            Assert.IsTrue(r.Start());
            Thread.Sleep(300);
            Assert.AreEqual(Receiver.ReceiverState.Connecting, r.State);
            StringAssert.Contains("tcp://127.0.0.1:" + port, r.LastError ?? "");
            var clock = Stopwatch.StartNew();
            r.Stop();
            Assert.That(clock.ElapsedMilliseconds, Is.LessThan(1500));
        }
    }
}
