using System;
using System.Reflection;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>The hot path allocates nothing: once a subject's names are known, a frame datagram
    /// or message goes from bytes to the reader's Latest() without a single managed allocation.</summary>
    [TestFixture]
    public class AllocationTests
    {
        private static Func<long> AllocatedBytes()
        {
            // Present in mono and .NET Core 3+ / .NET Standard 2.1 (recent Unity); looked up so the
            // test compiles everywhere and is ignored where the counter does not exist.
            MethodInfo m = typeof(GC).GetMethod("GetAllocatedBytesForCurrentThread", BindingFlags.Public | BindingFlags.Static);
            if (m == null) Assert.Ignore("GC.GetAllocatedBytesForCurrentThread is not available here");
            return (Func<long>)Delegate.CreateDelegate(typeof(Func<long>), m);
        }

        private static long Measure(Func<long> allocated, Action run)
        {
            // Warm up first: the JIT, the string caches and the first growth of buffers allocate.
            for (int i = 0; i < 1000; i++) run();
            long before = allocated();
            for (int i = 0; i < 2000; i++) run();
            return allocated() - before;
        }

        [Test]
        public void OscFramesAllocateNothing()
        {
            Func<long> allocated = AllocatedBytes();
            var ingest = new Ingest();
            byte[] names = OscWriter.Names("Ada", "arkit", 60, KnownCurves.Arkit);
            ingest.Datagram(names, names.Length);
            byte[] frame = OscWriter.Frame("Ada", 1, 0.5, "arkit", new float[52]);
            Subject ada = ingest.Subjects.Find("Ada");
            long bytes = Measure(allocated, () =>
            {
                frame[frame.Length - 1 - 40 - 4]++; // touch a value so frames differ
                ingest.Datagram(frame, frame.Length);
                ada.Latest();
            });
            Assert.AreEqual(0, bytes, "bytes allocated by 2000 frames");
        }

        [Test]
        public void ZmqFramesAndLiveLinkFacePacketsAllocateNothing()
        {
            Func<long> allocated = AllocatedBytes();
            var ingest = new Ingest();
            byte[] staticMsg = null, frameMsg = null, llf = null;
            foreach (Vector v in Vectors.All())
            {
                if (v.Name == "zmq_static") staticMsg = v.Bytes;
                if (v.Name == "zmq_frame") frameMsg = v.Bytes;
                if (v.Name == "livelinkface_arkit_frame") llf = v.Bytes;
            }
            byte[] topic = { (byte)'A', (byte)'d', (byte)'a' };
            ingest.ZmqMessage(topic, 3, staticMsg, staticMsg.Length);
            Subject ada = ingest.Subjects.Find("Ada");
            Assert.AreEqual(0, Measure(allocated, () =>
            {
                ingest.ZmqMessage(topic, 3, frameMsg, frameMsg.Length, topic);
                ada.Latest();
            }), "bytes allocated by 2000 ZeroMQ frames");
            Assert.AreEqual(0, Measure(allocated, () =>
            {
                ingest.Datagram(llf, llf.Length);
                ada.Latest();
            }), "bytes allocated by 2000 Live Link Face packets");
        }

        [Test]
        public void DriverAllocatesNothingPerFrame()
        {
            Func<long> allocated = AllocatedBytes();
            var layout = new CurveLayout("Ada", "arkit", 60, KnownCurves.Arkit, Emotions.Labels);
            var d = new ShapeDriver { Smoothing = 0.05f };
            d.Bind(KnownCurves.Arkit, ShapeDriver.AutoMap(KnownCurves.Arkit, KnownCurves.Arkit, "arkit"), layout);
            var f = new FaceFrame { Layout = layout };
            f.SetValueCount(52);
            Assert.AreEqual(0, Measure(allocated, () =>
            {
                d.SetFrame(f);
                d.Advance(1 / 60f);
            }));
        }
    }
}
