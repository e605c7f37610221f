using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>Malformed input is dropped and counted, never a crash or a read out of bounds.
    ///
    /// Every golden vector is cut at every length and has bytes flipped at random (fixed seed), and
    /// each result goes through every decoder and both ingest paths. Each input is decoded twice:
    /// from an array of exactly its length (a read past the end throws IndexOutOfRange) and from a
    /// longer array whose tail is poison: zeros (OSC's string terminator, msgpack's 0) or 0xA5 (a
    /// read past `length` inside the array changes the result). All must agree.</summary>
    [TestFixture]
    public class FuzzTests
    {
        private const int Seed = 20240101;
        private static readonly byte[] Poisons = { 0x00, 0xA5 };

        private readonly OscCompactDecoder _osc = new OscCompactDecoder();
        private readonly ZmqDecoder _zmq = new ZmqDecoder();
        private readonly LiveLinkFaceDecoder _llf = new LiveLinkFaceDecoder();
        private readonly Ingest _ingest = new Ingest();
        private readonly FaceFrame _frame = new FaceFrame();
        private readonly LiveLinkFacePacket _packet = new LiveLinkFacePacket();
        private readonly byte[] _topic = { (byte)'A', (byte)'d', (byte)'a' };
        private readonly List<string> _failures = new List<string>();
        private int _runs;

        /// <summary>What every decoder makes of data[0..length): a string per decoder, for comparing.</summary>
        private string Verdicts(byte[] data, int length)
        {
            CurveLayout layout;
            string osc = _osc.Decode(data, length, _frame, out layout) + "/" + _osc.Reason;
            string zmq = _zmq.Decode(data, 0, length, _frame, out layout) + "/" + _zmq.Reason;
            string llf = _llf.Decode(data, length, _packet) + "/" + _llf.Reason;
            ulong? tag;
            List<OscMessage> messages;
            string generic = OscPacket.TryRead(data, length, out tag, out messages) + "/" + messages.Count;
            _ingest.Datagram(data, length);
            _ingest.ZmqMessage(_topic, _topic.Length, data, length, _topic);
            return osc + " " + zmq + " " + llf + " " + generic;
        }

        private void Run(string what, byte[] input, int length)
        {
            _runs++;
            try
            {
                var exact = new byte[length];
                Array.Copy(input, exact, length);
                string a = Verdicts(exact, length);
                foreach (byte poison in Poisons)
                {
                    var padded = new byte[length + 64];
                    Array.Copy(input, padded, length);
                    for (int i = length; i < padded.Length; i++) padded[i] = poison;
                    string b = Verdicts(padded, length);
                    if (a != b && _failures.Count < 20) _failures.Add(what + ": reads past its length (" + a + " vs " + b + ")");
                }
            }
            catch (Exception e)
            {
                if (_failures.Count < 20) _failures.Add(what + ": " + e.GetType().Name + ": " + e.Message);
            }
        }

        private void Done()
        {
            if (_failures.Count > 0) Assert.Fail(_runs + " inputs, failures:\n" + string.Join("\n", _failures.ToArray()));
            Assert.That(_runs, Is.GreaterThan(1000));
        }

        [SetUp]
        public void Clear()
        {
            _failures.Clear();
            _runs = 0;
        }

        [Test]
        public void EveryVectorTruncatedAtEveryLength()
        {
            foreach (Vector v in Vectors.All())
                for (int n = 0; n < v.Bytes.Length; n++)
                    Run(v.Name + " cut to " + n, v.Bytes, n);
            Done();
        }

        [Test]
        public void TruncatedValidVectorsAreRefused()
        {
            // Cut short, a valid packet is invalid — except an OSC frame bundle cut exactly after a
            // complete /values message, which is a frame without its (optional) /emotion.
            var full = new FaceFrame();
            foreach (Vector v in Vectors.All())
            {
                if (!v.Valid) continue;
                CurveLayout layout;
                if (v.Format == "osc-compact") _osc.Decode(v.Bytes, v.Bytes.Length, full, out layout);
                for (int n = 0; n < v.Bytes.Length; n++)
                {
                    var cut = new byte[n];
                    Array.Copy(v.Bytes, cut, n);
                    string where = v.Name + " cut to " + n;
                    switch (v.Format)
                    {
                        case "livelinkface":
                            if (_llf.Decode(cut, n, _packet)) _failures.Add(where + ": accepted");
                            break;
                        case "zmq":
                            if (_zmq.Decode(cut, 0, n, _frame, out layout) != ZmqKind.Invalid) _failures.Add(where + ": accepted");
                            break;
                        case "osc-compact":
                            OscCompactKind kind = _osc.Decode(cut, n, _frame, out layout);
                            if (kind == OscCompactKind.Names) _failures.Add(where + ": accepted names");
                            if (kind == OscCompactKind.Frame &&
                                (_frame.HasEmotion || _frame.Number != full.Number || _frame.ValueCount != full.ValueCount))
                                _failures.Add(where + ": accepted as a different frame");
                            break;
                    }
                    _runs++;
                }
            }
            Done();
        }

        [Test]
        public void RandomByteFlips()
        {
            var random = new Random(Seed);
            foreach (Vector v in Vectors.All())
            {
                for (int k = 0; k < 600; k++)
                {
                    var b = (byte[])v.Bytes.Clone();
                    int flips = 1 + random.Next(4);
                    for (int f = 0; f < flips; f++)
                    {
                        int at = random.Next(b.Length);
                        if (random.Next(2) == 0) b[at] ^= (byte)(1 << random.Next(8)); // a bit
                        else b[at] = (byte)random.Next(256); // a byte, often a length field
                    }
                    Run(v.Name + " flipped (run " + k + ")", b, b.Length);
                }
            }
            Done();
        }

        [Test]
        public void RandomGarbageWithPlausibleStarts()
        {
            var random = new Random(Seed + 1);
            byte[][] starts =
            {
                new byte[0], Osc.BundleTag, System.Text.Encoding.ASCII.GetBytes("/emorig/Ada/names\0\0\0,isf"),
                new byte[] { 6, 0, 0, 0 }, new byte[] { 0x8a, 0xa4 }, new byte[] { 0xdf, 0xff, 0xff, 0xff, 0xff },
                new byte[] { 0xdd, 0x7f, 0xff, 0xff, 0xff }, new byte[] { 0xc6, 0xff, 0xff, 0xff, 0xf0 },
            };
            for (int k = 0; k < 4000; k++)
            {
                byte[] start = starts[k % starts.Length];
                var b = new byte[start.Length + random.Next(300)];
                random.NextBytes(b);
                Array.Copy(start, b, start.Length);
                Run("garbage " + k, b, b.Length);
            }
            Done();
        }

        [Test]
        public void DeepNestingIsRefusedNotRecursedInto()
        {
            var b = new byte[100000];
            for (int i = 0; i < b.Length; i++) b[i] = 0x91; // [[[[…
            CurveLayout layout;
            Assert.AreEqual(ZmqKind.Invalid, _zmq.Decode(b, 0, b.Length, _frame, out layout));
            Assert.AreEqual(Reasons.NotMsgpack, _zmq.Reason);
        }

        [Test]
        public void EveryRefusalIsCounted()
        {
            var ingest = new Ingest();
            int refused = 0;
            foreach (Vector v in Vectors.All())
            {
                if (v.Valid) continue;
                bool used = v.Format == "zmq"
                    ? ingest.ZmqMessage(_topic, 3, v.Bytes, v.Bytes.Length)
                    : ingest.Datagram(v.Bytes, v.Bytes.Length);
                Assert.IsFalse(used, v.Name);
                Assert.That(ingest.Stats.DroppedFor(v.Reason), Is.GreaterThan(0), v.Name + " not counted as " + v.Reason);
                refused++;
            }
            Assert.AreEqual(refused, ingest.Stats.Dropped);
            Assert.AreEqual(refused, ingest.Stats.Packets);
        }
    }
}
