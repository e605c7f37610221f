using System.Collections.Generic;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>Every golden vector of tests/vectors/: valid ones decode to exactly what their .json
    /// says, invalid ones are refused with the reference's reason code.</summary>
    [TestFixture]
    public class VectorTests
    {
        private readonly List<string> _errors = new List<string>();

        private void Check(bool ok, Vector v, string what)
        {
            if (!ok) _errors.Add(v.Name + ": " + what);
        }

        private void Equal(object expected, object actual, Vector v, string field)
        {
            Check(Equals(expected, actual), v, field + ": expected " + expected + ", got " + actual);
        }

        private void Floats(object expectedList, float[] actual, int count, Vector v, string field)
        {
            List<object> expected = MiniJson.List(expectedList);
            if (expected.Count != count)
            {
                _errors.Add(v.Name + ": " + field + ": expected " + expected.Count + " values, got " + count);
                return;
            }
            for (int i = 0; i < count; i++)
                Check((float)MiniJson.Double(expected[i]) == actual[i], v, field + "[" + i + "]: expected " + expected[i] + ", got " + actual[i]);
        }

        private void Strings(object expectedList, IReadOnlyList<string> actual, Vector v, string field)
        {
            List<object> expected = MiniJson.List(expectedList);
            Check(expected.Count == actual.Count, v, field + ": expected " + expected.Count + " names, got " + actual.Count);
            for (int i = 0; i < expected.Count && i < actual.Count; i++)
                Equal(expected[i], actual[i], v, field + "[" + i + "]");
        }

        private void Done()
        {
            if (_errors.Count > 0) Assert.Fail(string.Join("\n", _errors.ToArray()));
        }

        [SetUp]
        public void Clear()
        {
            _errors.Clear();
        }

        [Test]
        public void LiveLinkFaceVectors()
        {
            var decoder = new LiveLinkFaceDecoder();
            var p = new LiveLinkFacePacket();
            foreach (Vector v in Vectors.OfFormat("livelinkface"))
            {
                bool ok = decoder.Decode(v.Bytes, v.Bytes.Length, p);
                if (!v.Valid)
                {
                    Check(!ok, v, "accepted, expected " + v.Reason);
                    if (!ok) Equal(v.Reason, decoder.Reason, v, "reason");
                    continue;
                }
                Check(ok, v, "refused: " + decoder.Reason);
                if (!ok) continue;
                var d = v.Decoded;
                Equal((long)d["version"], (long)p.Version, v, "version");
                Equal(d["device_id"], p.DeviceId, v, "device_id");
                Equal(d["subject"], p.Subject, v, "subject");
                Equal((long)d["frame_number"], (long)p.FrameNumber, v, "frame_number");
                Equal(MiniJson.Double(d["sub_frame"]), (double)p.SubFrame, v, "sub_frame");
                Equal((long)d["fps_numerator"], (long)p.FpsNumerator, v, "fps_numerator");
                Equal((long)d["fps_denominator"], (long)p.FpsDenominator, v, "fps_denominator");
                Floats(d["values"], p.Values, p.Values.Length, v, "values");
                if (v.Json.ContainsKey("curves")) Strings(v.Json["curves"], KnownCurves.LiveLinkFace, v, "curves");
            }
            Done();
        }

        [Test]
        public void OscCompactVectors()
        {
            var decoder = new OscCompactDecoder();
            var frame = new FaceFrame();
            foreach (Vector v in Vectors.OfFormat("osc-compact"))
            {
                CurveLayout names;
                OscCompactKind kind = decoder.Decode(v.Bytes, v.Bytes.Length, frame, out names);
                if (!v.Valid)
                {
                    Check(kind == OscCompactKind.Invalid, v, "accepted, expected " + v.Reason);
                    Equal(v.Reason, decoder.Reason, v, "reason");
                    continue;
                }
                Check(kind != OscCompactKind.Invalid, v, "refused: " + decoder.Reason);
                var d = v.Decoded;
                if ((string)d["type"] == "names")
                {
                    Check(kind == OscCompactKind.Names, v, "not read as names");
                    if (names == null) continue;
                    Equal((long)d["schema"], (long)names.Schema, v, "schema");
                    Equal(d["subject"], names.Subject, v, "subject");
                    Equal(d["space"], names.Space, v, "space");
                    Equal(MiniJson.Double(d["fps"]), names.Fps, v, "fps");
                    Strings(d["curves"], names.Curves, v, "curves");
                }
                else
                {
                    Check(kind == OscCompactKind.Frame, v, "not read as a frame");
                    Equal((ulong)d["timetag"], frame.TimeTag, v, "timetag");
                    Equal(d["subject"], frame.Subject, v, "subject");
                    Equal((long)d["number"], frame.Number, v, "number");
                    Equal(MiniJson.Double(d["time"]), frame.Time, v, "time");
                    Equal(d["space"], frame.Space, v, "space");
                    Floats(d["values"], frame.Values, frame.ValueCount, v, "values");
                    Check(frame.HasEmotion == d.ContainsKey("emotion"), v, "emotion presence");
                    Equal(d["emotion"], frame.Emotion, v, "emotion");
                    Equal((float)MiniJson.Double(d["intensity"]), frame.Intensity, v, "intensity");
                    Floats(d["emotion_probs"], frame.EmotionProbs, Emotions.Count, v, "emotion_probs");
                }
            }
            Done();
        }

        /// <summary>The plain OSC reading every OSC vector states (address, type tags, arguments),
        /// including the curves-mode and VRChat vectors that the compact decoder does not take.</summary>
        [Test]
        public void OscGenericReading()
        {
            foreach (Vector v in Vectors.OfFormat("osc-compact", "osc-curves", "osc-vrchat"))
            {
                if (!v.Valid || !v.Json.ContainsKey("osc")) continue;
                var osc = MiniJson.Object(v.Json["osc"]);
                ulong? tag;
                List<OscMessage> messages;
                bool ok = OscPacket.TryRead(v.Bytes, v.Bytes.Length, out tag, out messages);
                Check(ok, v, "not readable as OSC");
                if (!ok) continue;
                object expectedTag = osc["timetag"] is long ? (object)(ulong)(long)osc["timetag"] : osc["timetag"]; // null, or a ulong past long.MaxValue
                Equal(expectedTag, tag.HasValue ? (object)tag.Value : null, v, "timetag");
                List<object> expected = MiniJson.List(osc["messages"]);
                Check(expected.Count == messages.Count, v, "expected " + expected.Count + " messages, got " + messages.Count);
                for (int i = 0; i < expected.Count && i < messages.Count; i++)
                {
                    var e = MiniJson.Object(expected[i]);
                    OscMessage m = messages[i];
                    string where = "message " + i + " (" + m.Address + ")";
                    Equal(e["address"], m.Address, v, where + " address");
                    Equal(e["types"], m.TypeTags, v, where + " types");
                    List<object> args = MiniJson.List(e["args"]);
                    Check(args.Count == m.Args.Count, v, where + ": argument count");
                    for (int a = 0; a < args.Count && a < m.Args.Count; a++)
                    {
                        object got = m.Args[a];
                        if (got is float) Equal((float)MiniJson.Double(args[a]), got, v, where + " arg " + a);
                        else if (got is double) Equal(MiniJson.Double(args[a]), got, v, where + " arg " + a);
                        else if (got is int) Equal((long)args[a], (long)(int)got, v, where + " arg " + a);
                        else Equal(args[a], got, v, where + " arg " + a);
                    }
                }
            }
            Done();
        }

        [Test]
        public void ZmqVectors()
        {
            var decoder = new ZmqDecoder();
            var frame = new FaceFrame();
            foreach (Vector v in Vectors.OfFormat("zmq"))
            {
                CurveLayout layout;
                ZmqKind kind = decoder.Decode(v.Bytes, 0, v.Bytes.Length, frame, out layout);
                if (!v.Valid)
                {
                    Check(kind == ZmqKind.Invalid, v, "accepted, expected " + v.Reason);
                    Equal(v.Reason, decoder.Reason, v, "reason");
                    continue;
                }
                Check(kind != ZmqKind.Invalid, v, "refused: " + decoder.Reason);
                var d = v.Decoded;
                Equal(1L, (long)ZmqDecoder.SchemaVersion, v, "schema");
                switch ((string)d["type"])
                {
                    case "static":
                        Check(kind == ZmqKind.Static && layout != null, v, "not read as static");
                        if (layout == null) break;
                        Equal(d["subject"], layout.Subject, v, "subject");
                        Equal(v.Json["topic"], layout.Subject, v, "topic");
                        Equal(d["space"], layout.Space, v, "space");
                        Equal(MiniJson.Double(d["fps"]), layout.Fps, v, "fps");
                        Strings(d["curves"], layout.Curves, v, "curves");
                        Strings(d["emotions"], layout.Emotions, v, "emotions");
                        Strings(d["emotions"], Emotions.Labels, v, "Emotions.Labels");
                        Strings(d["curves"], KnownCurves.Arkit, v, "KnownCurves.Arkit");
                        break;
                    case "frame":
                        Check(kind == ZmqKind.Frame, v, "not read as a frame");
                        Equal(d["subject"], frame.Subject, v, "subject");
                        Equal((long)d["number"], frame.Number, v, "number");
                        Equal(MiniJson.Double(d["time"]), frame.Time, v, "time");
                        Equal(d["space"], frame.Space, v, "space");
                        Floats(d["values"], frame.Values, frame.ValueCount, v, "values");
                        Equal(d["emotion"], frame.Emotion, v, "emotion");
                        Floats(d["emotion_probs"], frame.EmotionProbs, Emotions.Count, v, "emotion_probs");
                        Equal((float)MiniJson.Double(d["intensity"]), frame.Intensity, v, "intensity");
                        break;
                    default:
                        Check(kind == ZmqKind.Unknown, v, "an unknown type must come back Unknown");
                        Equal(d["type"], decoder.UnknownType, v, "type");
                        break;
                }
            }
            Done();
        }

        /// <summary>The compact OSC names vector and the ZeroMQ static agree with KnownCurves.Arkit.</summary>
        [Test]
        public void KnownArkitNamesMatchTheStream()
        {
            foreach (Vector v in Vectors.OfFormat("osc-compact"))
            {
                if (!v.Valid || (string)v.Decoded["type"] != "names") continue;
                Strings(v.Decoded["curves"], KnownCurves.Arkit, v, "curves");
            }
            Done();
        }
    }
}
