using System.Collections.Generic;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>From datagrams and messages to subjects: names first, frames checked against them.</summary>
    [TestFixture]
    public class IngestTests
    {
        private static readonly float[] Three = { 0.25f, 0.5f, 1f };
        private static readonly string[] ThreeNames = { "jawOpen", "eyeBlinkLeft", "mouthSmileLeft" };

        private static bool Send(Ingest ingest, byte[] datagram)
        {
            return ingest.Datagram(datagram, datagram.Length);
        }

        [Test]
        public void FramesWaitForTheirNames()
        {
            var ingest = new Ingest();
            Assert.IsFalse(Send(ingest, OscWriter.Frame("Ada", 1, 0.0, "arkit", Three)));
            Assert.AreEqual(1, ingest.Stats.DroppedFor(Reasons.WaitingForNames));
            Assert.IsTrue(Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames)));
            Assert.IsTrue(Send(ingest, OscWriter.Frame("Ada", 2, 1 / 60.0, "arkit", Three)));
            FaceFrame f = ingest.Subjects.Find("Ada").Latest();
            Assert.AreEqual(2, f.Number);
            Assert.AreEqual(ThreeNames, f.Layout.Curves);
            Assert.AreEqual(1, ingest.Stats.Frames);
            Assert.AreEqual(1, ingest.Stats.Layouts);
        }

        [Test]
        public void RepeatedNamesKeepTheLayoutObjectChangedNamesReplaceIt()
        {
            var ingest = new Ingest();
            Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames));
            CurveLayout first = ingest.Subjects.Find("Ada").Layout;
            Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames));
            Assert.AreSame(first, ingest.Subjects.Find("Ada").Layout);
            Send(ingest, OscWriter.Names("Ada", "vrcft", 60, new[] { "JawOpen" }));
            Assert.AreNotSame(first, ingest.Subjects.Find("Ada").Layout);
            // A frame still in the old space, or with the wrong count, is dropped until names catch up.
            Assert.IsFalse(Send(ingest, OscWriter.Frame("Ada", 3, 0.0, "arkit", Three)));
            Assert.IsFalse(Send(ingest, OscWriter.Frame("Ada", 3, 0.0, "vrcft", Three)));
            Assert.AreEqual(2, ingest.Stats.DroppedFor(Reasons.LayoutMismatch));
            Assert.IsTrue(Send(ingest, OscWriter.Frame("Ada", 4, 0.0, "vrcft", new[] { 0.5f })));
        }

        [Test]
        public void SubjectsAreKeptApart()
        {
            var ingest = new Ingest();
            Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames));
            Send(ingest, OscWriter.Names("Bob", "vrcft", 30, new[] { "JawOpen" }));
            Send(ingest, OscWriter.Frame("Ada", 1, 0.0, "arkit", Three));
            Send(ingest, OscWriter.Frame("Bob", 9, 0.3, "vrcft", new[] { 0.75f }));
            Assert.AreEqual(1, ingest.Subjects.Find("Ada").Latest().Number);
            Assert.AreEqual(0.75f, ingest.Subjects.Find("Bob").Latest().Values[0]);
            Assert.AreEqual(30.0, ingest.Subjects.Find("Bob").Layout.Fps);
        }

        [Test]
        public void LiveLinkFacePacketsOnTheSamePort()
        {
            var ingest = new Ingest();
            foreach (Vector v in Vectors.OfFormat("livelinkface"))
                ingest.Datagram(v.Bytes, v.Bytes.Length);
            FaceFrame f = ingest.Subjects.Find("Ada").Latest();
            Assert.AreEqual("livelinkface", f.Space);
            Assert.AreEqual(61, f.ValueCount);
            Assert.AreEqual(KnownCurves.LiveLinkFace, f.Layout.Curves);
            Assert.AreEqual((1234 + 0.5) / 60.0, f.Time, 1e-12);
            Assert.IsNotNull(ingest.Subjects.Find("\u00c9milie \U0001F642").Latest());
        }

        [Test]
        public void ZmqStaticThenFrameAndTopicFilter()
        {
            var ingest = new Ingest();
            var vectors = new Dictionary<string, byte[]>();
            foreach (Vector v in Vectors.OfFormat("zmq")) vectors[v.Name] = v.Bytes;
            byte[] ada = { (byte)'A', (byte)'d', (byte)'a' };
            byte[] other = { (byte)'A', (byte)'d', (byte)'a', (byte)'2' };
            Assert.IsFalse(ingest.ZmqMessage(ada, 3, vectors["zmq_frame"], vectors["zmq_frame"].Length));
            Assert.IsTrue(ingest.ZmqMessage(ada, 3, vectors["zmq_static"], vectors["zmq_static"].Length, ada));
            Assert.IsFalse(ingest.ZmqMessage(other, 4, vectors["zmq_frame"], vectors["zmq_frame"].Length, ada)); // prefix match, not ours
            Assert.IsTrue(ingest.ZmqMessage(ada, 3, vectors["zmq_frame"], vectors["zmq_frame"].Length, ada));
            Assert.IsFalse(ingest.ZmqMessage(ada, 3, vectors["zmq_unknown_type"], vectors["zmq_unknown_type"].Length));
            Assert.AreEqual(2, ingest.Stats.Ignored);
            Assert.AreEqual(1234, ingest.Subjects.Find("Ada").Latest().Number);
        }

        [Test]
        public void ANewerSchemaIsReportedOnce()
        {
            var ingest = new Ingest();
            var warnings = new List<string>();
            ingest.Warning = warnings.Add;
            for (int i = 0; i < 3; i++) Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames, 2));
            Assert.AreEqual(1, warnings.Count);
            StringAssert.Contains("schema 2", warnings[0]);
            StringAssert.Contains("update the plugin", warnings[0]);
            Assert.AreEqual(3, ingest.Stats.DroppedFor(Reasons.UnsupportedSchema));
            StringAssert.Contains("unsupported_schema 3", ingest.Stats.Summary());
        }

        [Test]
        public void FrameReceivedSeesEveryFrameAndMayThrow()
        {
            var ingest = new Ingest();
            var numbers = new List<long>();
            var warnings = new List<string>();
            ingest.Warning = warnings.Add;
            ingest.FrameReceived = f =>
            {
                numbers.Add(f.Number);
                if (f.Number == 2) throw new System.InvalidOperationException("boom");
            };
            Send(ingest, OscWriter.Names("Ada", "arkit", 60, ThreeNames));
            for (int i = 1; i <= 4; i++) Assert.IsTrue(Send(ingest, OscWriter.Frame("Ada", i, i / 60.0, "arkit", Three)));
            Assert.AreEqual(new long[] { 1, 2, 3, 4 }, numbers.ToArray());
            Assert.AreEqual(4, ingest.Subjects.Find("Ada").Latest().Number);
            StringAssert.Contains("boom", warnings[0]);
        }
    }
}
