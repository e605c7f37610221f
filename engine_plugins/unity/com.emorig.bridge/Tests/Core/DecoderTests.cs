using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>Decoder behaviour the golden vectors do not pin down: the versioning rules (ignore
    /// what is new, refuse what changed), msgpack's many encodings, the reference's checks.</summary>
    [TestFixture]
    public class DecoderTests
    {
        private static readonly float[] Three = { 0.25f, 0.5f, 1f };
        private readonly FaceFrame _frame = new FaceFrame();
        private CurveLayout _layout;

        private OscCompactKind Osc(byte[] data, out string reason)
        {
            var d = new OscCompactDecoder();
            OscCompactKind kind = d.Decode(data, data.Length, _frame, out _layout);
            reason = d.Reason;
            return kind;
        }

        private ZmqKind Zmq(byte[] data, out string reason)
        {
            var d = new ZmqDecoder();
            ZmqKind kind = d.Decode(data, 0, data.Length, _frame, out _layout);
            reason = d.Reason;
            return kind;
        }

        // -- OSC compact -------------------------------------------------------------------------

        [Test]
        public void OscFrameWithoutEmotionIsAFrame()
        {
            string reason;
            Assert.AreEqual(OscCompactKind.Frame, Osc(OscWriter.Frame("Ada", 7, 0.5, "arkit", Three, false), out reason));
            Assert.IsFalse(_frame.HasEmotion);
            Assert.AreEqual(3, _frame.ValueCount);
            Assert.AreEqual(0.5f, _frame.Values[1]);
        }

        [Test]
        public void OscUnknownMessagesAndAppendedArgumentsAreIgnored()
        {
            byte[] bundle = OscWriter.Bundle(1,
                OscWriter.Message("/emorig/Ada/viseme", "sb", "aa", new byte[] { 1, 2, 3 }), // a message a newer emorig might add
                OscWriter.Message("/emorig/Ada/frame", "idsi", 3, 0.05, "arkit", 42),          // an argument appended
                OscWriter.Message("/emorig/Ada/values", "fff", 0.25f, 0.5f, 1f),
                OscWriter.Message("/emorig/Ada/emotion", "sfffffffffs", "sad", 0.25f, 0f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, "new"));
            string reason;
            Assert.AreEqual(OscCompactKind.Frame, Osc(bundle, out reason), reason);
            Assert.AreEqual(3, _frame.Number);
            Assert.AreEqual("sad", _frame.Emotion);
            Assert.AreEqual(1f, _frame.EmotionProbs[2]);
        }

        [Test]
        public void OscRefusals()
        {
            string root = "/emorig/Ada/";
            byte[] frame = OscWriter.Message(root + "frame", "ids", 1, 0.0, "arkit");
            byte[] values = OscWriter.Message(root + "values", "fff", 0f, 0f, 0f);
            Expect(OscWriter.Bundle(1, frame, OscWriter.Message("/emorig/Bob/values", "f", 0f)), Reasons.MixedSubjects);
            Expect(OscWriter.Bundle(1, frame, OscWriter.Message(root + "values", "fi", 0f, 1)), Reasons.BadArguments);
            Expect(OscWriter.Bundle(1, OscWriter.Message(root + "frame", "if", 1, 0f), values), Reasons.BadArguments);
            Expect(OscWriter.Bundle(1, frame, values, OscWriter.Message(root + "emotion", "sf", "sad", 1f)), Reasons.BadArguments);
            Expect(OscWriter.Bundle(1, OscWriter.Message(root + "frame", "ids", 1, double.NaN, "arkit"), values), Reasons.NonFiniteValue);
            Expect(OscWriter.Bundle(1, frame, OscWriter.Message(root + "values", "f", float.PositiveInfinity)), Reasons.NonFiniteValue);
            Expect(OscWriter.Bundle(1, frame, values, OscWriter.Bundle(1, values)), Reasons.BadOsc); // nested bundle
            Expect(OscWriter.Bundle(1, frame, OscWriter.Message(root + "values", "fq", 0f)), Reasons.BadOsc); // unknown tag
            Expect(OscWriter.Names("Ada", "arkit", 60, KnownCurves.Arkit, 2), Reasons.UnsupportedSchema);
            Expect(OscWriter.Message("/emorig/Ada/frame", "ids", 1, 0.0, "arkit"), Reasons.UnknownAddress);
            Expect(OscWriter.Message("/avatar/parameters/v2/JawOpen", "f", 0.5f), Reasons.UnknownAddress);
            Expect(OscWriter.Message(root + "names", "isfsi", 1, "arkit", 60f, "jawOpen", 3), Reasons.BadArguments);
            Expect(OscWriter.Message(root + "names", "sf", "arkit", 60f), Reasons.BadArguments);
            Expect(new byte[0], Reasons.BadOsc);
            Expect(new byte[] { (byte)'#', (byte)'b', (byte)'u', (byte)'n', (byte)'d', (byte)'l', (byte)'e' }, Reasons.BadOsc);
            byte[] bad = OscWriter.Message(root + "names", "isfs", 1, "arkit", 60f, "jawOpen");
            bad[bad.Length - 5] = 0xFF; // a name that is not UTF-8
            Expect(bad, Reasons.BadOsc);
        }

        private void Expect(byte[] datagram, string reason)
        {
            string got;
            Assert.AreEqual(OscCompactKind.Invalid, Osc(datagram, out got), "expected " + reason);
            Assert.AreEqual(reason, got);
        }

        [Test]
        public void OscNamesKeepSubjectSpaceRateAndCurves()
        {
            string reason;
            Assert.AreEqual(OscCompactKind.Names, Osc(OscWriter.Names("stage-left_2", "metahuman", 29.97f, new[] { "CTRL_expressions_jawOpen" }), out reason));
            Assert.AreEqual("stage-left_2", _layout.Subject);
            Assert.AreEqual("metahuman", _layout.Space);
            Assert.AreEqual((double)29.97f, _layout.Fps);
            Assert.AreEqual(1, _layout.CurveCount);
            Assert.AreEqual(Emotions.Labels, _layout.Emotions);
        }

        // -- ZeroMQ / msgpack --------------------------------------------------------------------

        private static object[] FrameFields(object number, object time)
        {
            return new object[]
            {
                "type", "frame", "schema", 1, "subject", "Ada", "number", number, "time", time,
                "space", "arkit", "values", MsgPackWriter.FloatsLE(Three), "emotion", "happy",
                "emotion_probs", new object[] { 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0 }, "intensity", 0.5,
            };
        }

        [Test]
        public void ZmqNumberGrowsThroughEveryIntegerEncoding()
        {
            foreach (object n in new object[] { 5, 200, 70000, 5000000000L, (ulong)long.MaxValue, -3, -200, -70000, -5000000000L })
            {
                string reason;
                Assert.AreEqual(ZmqKind.Frame, Zmq(MsgPackWriter.Map(FrameFields(n, 1.5)), out reason), n + ": " + reason);
                Assert.AreEqual(System.Convert.ToInt64(n), _frame.Number);
            }
        }

        [Test]
        public void ZmqFloatFieldsMayBeIntegersOrFloat32()
        {
            string reason;
            Assert.AreEqual(ZmqKind.Frame, Zmq(MsgPackWriter.Map(FrameFields(1, 2)), out reason), reason);
            Assert.AreEqual(2.0, _frame.Time);
            Assert.AreEqual(ZmqKind.Frame, Zmq(MsgPackWriter.Map(FrameFields(1, 0.25f)), out reason), reason);
            Assert.AreEqual(0.25, _frame.Time);
        }

        [Test]
        public void ZmqKeysInAnyOrderLastRepeatWinsBinKeysIgnored()
        {
            object[] f = FrameFields(9, 1.0);
            var reversed = new object[f.Length + 4];
            for (int i = 0; i < f.Length; i += 2)
            {
                reversed[f.Length - 2 - i] = f[i];
                reversed[f.Length - 1 - i] = f[i + 1];
            }
            reversed[f.Length] = new byte[] { (byte)'n', (byte)'u', (byte)'m', (byte)'b', (byte)'e', (byte)'r' }; // bin key: not "number"
            reversed[f.Length + 1] = 1234;
            reversed[f.Length + 2] = "number";
            reversed[f.Length + 3] = 10;
            string reason;
            Assert.AreEqual(ZmqKind.Frame, Zmq(MsgPackWriter.Map(reversed), out reason), reason);
            Assert.AreEqual(10, _frame.Number);
        }

        [Test]
        public void ZmqStaticWithIntegerFps()
        {
            string reason;
            byte[] s = MsgPackWriter.Map("type", "static", "schema", 1, "subject", "Ada", "space", "arkit", "fps", 30,
                "curves", new object[] { "jawOpen" }, "emotions", new object[] { "neutral" }, "future", new object[] { 1, "x" });
            Assert.AreEqual(ZmqKind.Static, Zmq(s, out reason), reason);
            Assert.AreEqual(30.0, _layout.Fps);
            Assert.AreEqual("jawOpen", _layout.Curves[0]);
        }

        [Test]
        public void ZmqRefusals()
        {
            object[] f = FrameFields(1, 1.0);
            ExpectZmq(MsgPackWriter.Value(new object[] { 1, 2 }), Reasons.NotAMap);
            ExpectZmq(MsgPackWriter.Value("frame"), Reasons.NotAMap);
            ExpectZmq(Concat(MsgPackWriter.Map(f), new byte[] { 0xc0 }), Reasons.NotMsgpack); // a second value after the map
            ExpectZmq(MsgPackWriter.Map("type", "frame", "schema", true), Reasons.MissingField);
            ExpectZmq(MsgPackWriter.Map("type", "frame", "schema", 1.0), Reasons.MissingField);
            ExpectZmq(MsgPackWriter.Map("type", 3, "schema", 1), Reasons.MissingField);
            ExpectZmq(MsgPackWriter.Map("type", "frame", "schema", 2), Reasons.UnsupportedSchema);
            ExpectZmq(MsgPackWriter.Map("type", "frame", "schema", -1), Reasons.UnsupportedSchema);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "number", true)), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "number", 1.5)), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "time", "now")), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "time", double.PositiveInfinity)), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "values", new object[] { 1.0 })), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "values", new byte[] { 0, 0, 0, 0, 0 })), Reasons.BadValuesLength);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "values", MsgPackWriter.FloatsLE(float.NaN))), Reasons.NonFiniteValue);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "emotion_probs", new object[] { 1.0 })), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "emotion_probs", new object[] { 0, 0, 0, 0, 0, 0, 0, "x" })), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map(Replace(f, "emotion_probs", new object[] { 0, 0, 0, 0, 0, 0, 0, double.NaN })), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map("type", "static", "schema", 1, "subject", "Ada", "space", "arkit", "fps", 60.0,
                "curves", new object[] { "jawOpen", 3 }, "emotions", new object[0]), Reasons.BadField);
            ExpectZmq(MsgPackWriter.Map("type", "static", "schema", 1, "subject", "Ada", "space", "arkit", "fps", 60.0,
                "curves", new object[0]), Reasons.MissingField);
            // Not msgpack-python's idea of msgpack: non-string map keys, invalid UTF-8, the reserved byte.
            ExpectZmq(Concat(new byte[] { 0x81, 0x01, 0x01 }), Reasons.NotMsgpack);
            ExpectZmq(Concat(new byte[] { 0x81, 0xa1, 0xff, 0x01 }), Reasons.NotMsgpack);
            ExpectZmq(Concat(new byte[] { 0x81, 0xa1, (byte)'x', 0xc1 }), Reasons.NotMsgpack);
            ExpectZmq(new byte[0], Reasons.NotMsgpack);
        }

        private void ExpectZmq(byte[] payload, string reason)
        {
            string got;
            Assert.AreEqual(ZmqKind.Invalid, Zmq(payload, out got), "expected " + reason);
            Assert.AreEqual(reason, got);
        }

        [Test]
        public void ZmqUnknownTypeIsIgnoredButStillChecked()
        {
            string reason;
            Assert.AreEqual(ZmqKind.Unknown, Zmq(MsgPackWriter.Map("type", "viseme", "schema", 1, "x", new object[] { 1 }), out reason));
            Assert.AreEqual(ZmqKind.Invalid, Zmq(MsgPackWriter.Map("type", "viseme", "schema", 2), out reason));
        }

        [Test]
        public void MsgPackTokens()
        {
            MsgPackToken t;
            int at = 0;
            byte[] d = { 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0 };
            Assert.IsTrue(MsgPack.ReadToken(d, ref at, d.Length, out t));
            Assert.AreEqual(MsgPackKind.Float64, t.Kind);
            Assert.AreEqual(1.5, t.Float);
            at = 0;
            d = new byte[] { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 };
            Assert.IsTrue(MsgPack.ReadToken(d, ref at, d.Length, out t));
            Assert.AreEqual(long.MinValue, t.Int);
            at = 0;
            d = new byte[] { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
            Assert.IsTrue(MsgPack.ReadToken(d, ref at, d.Length, out t));
            Assert.AreEqual(ulong.MaxValue, t.UInt);
            at = 0;
            d = new byte[] { 0xd6, 0xff, 1, 2, 3, 4, 0xc3 }; // fixext 4 (a timestamp), then true
            Assert.IsTrue(MsgPack.SkipValue(d, ref at, d.Length));
            Assert.AreEqual(6, at);
            at = 0;
            d = new byte[] { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 }; // an array claiming 4 billion items
            Assert.IsFalse(MsgPack.SkipValue(d, ref at, d.Length));
            at = 0;
            d = new byte[] { 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41 }; // a 2 GB string
            Assert.IsFalse(MsgPack.SkipValue(d, ref at, d.Length));
        }

        [Test]
        public void Utf8ValidationMatchesPython()
        {
            Assert.IsTrue(Valid(0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0x99, 0x82));
            Assert.IsFalse(Valid(0xc0, 0xaf));             // overlong '/'
            Assert.IsFalse(Valid(0xed, 0xa0, 0x80));       // a surrogate
            Assert.IsFalse(Valid(0xf4, 0x90, 0x80, 0x80)); // past U+10FFFF
            Assert.IsFalse(Valid(0xe2, 0x82));             // cut short
            Assert.IsFalse(Valid(0xff));
        }

        private static bool Valid(params byte[] b)
        {
            return Bytes.IsValidUtf8(b, 0, b.Length);
        }

        [Test]
        public void LiveLinkFaceFrameTime()
        {
            var p = new LiveLinkFacePacket { FrameNumber = 30, SubFrame = 0.5f, FpsNumerator = 30000, FpsDenominator = 1001 };
            Assert.AreEqual(30.5 * 1001 / 30000, p.Time, 1e-12);
        }

        private static object[] Replace(object[] fields, string key, object value)
        {
            var copy = (object[])fields.Clone();
            for (int i = 0; i < copy.Length; i += 2)
                if ((string)copy[i] == key) copy[i + 1] = value;
            return copy;
        }

        private static byte[] Concat(params byte[][] parts)
        {
            var s = new System.IO.MemoryStream();
            foreach (byte[] p in parts) s.Write(p, 0, p.Length);
            return s.ToArray();
        }
    }
}
