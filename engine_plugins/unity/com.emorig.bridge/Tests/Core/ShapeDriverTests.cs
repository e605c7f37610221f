using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>What EmorigFace does with a frame, minus Unity: auto-mapping, gain/offset, clamping,
    /// smoothing, recording.</summary>
    [TestFixture]
    public class ShapeDriverTests
    {
        private static readonly string[] Mesh =
        {
            "blendShape1.eyeBlink_L", "blendShape1.eyeBlink_R", "JawOpen", "Face.mouthSmile_L", "Tongue_Out", "Wrinkles",
        };

        private static CurveLayout Arkit()
        {
            return new CurveLayout("Ada", "arkit", 60, KnownCurves.Arkit, Emotions.Labels);
        }

        private static FaceFrame Frame(CurveLayout layout, params KeyValuePair<string, float>[] values)
        {
            var f = new FaceFrame { Layout = layout, Space = layout.Space };
            f.SetValueCount(layout.CurveCount);
            var index = NameIndex.ForLayout(layout);
            foreach (var kv in values) f.Values[index.Find(kv.Key)] = kv.Value;
            return f;
        }

        private static KeyValuePair<string, float> V(string curve, float value)
        {
            return new KeyValuePair<string, float>(curve, value);
        }

        [Test]
        public void AutoMapFindsEverySpellingAndReportsTheRest()
        {
            var unmatched = new List<string>();
            List<ShapeBinding> b = ShapeDriver.AutoMap(Mesh, KnownCurves.Arkit, "arkit", unmatched);
            Assert.AreEqual(new[] { "eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft", "tongueOut" },
                b.ConvertAll(x => x.curve).ToArray());
            Assert.AreEqual("blendShape1.eyeBlink_L", b[0].blendShape);
            Assert.AreEqual(new[] { "Wrinkles" }, unmatched.ToArray());
        }

        [Test]
        public void AutoMapAMetaHumanStreamWithoutItsPrefix()
        {
            var curves = new[] { "CTRL_expressions_jawOpen", "CTRL_expressions_mouthCornerPullL" };
            List<ShapeBinding> b = ShapeDriver.AutoMap(new[] { "jawOpen", "mouthCornerPull_Left" }, curves, "metahuman");
            Assert.AreEqual(2, b.Count);
            Assert.AreEqual("CTRL_expressions_mouthCornerPullL", b[1].curve);
        }

        [Test]
        public void WeightsAreGainOffsetClampScale()
        {
            CurveLayout layout = Arkit();
            var d = new ShapeDriver();
            var bindings = ShapeDriver.AutoMap(Mesh, KnownCurves.Arkit, "arkit");
            bindings[2].gain = 2f;      // jaw doubled
            bindings[3].offset = 0.25f; // smile lifted
            bindings[4].muted = true;
            d.Bind(Mesh, bindings, layout);
            Assert.AreEqual(4, d.ShapeCount);
            Assert.IsTrue(d.SetFrame(Frame(layout, V("eyeBlinkLeft", 0.5f), V("jawOpen", 0.75f), V("mouthSmileLeft", 0.25f))));
            d.Advance(0.016f);
            Assert.AreEqual(0, d.ShapeIndex(0));
            Assert.AreEqual(50f, d.Weight(0), 1e-4);
            Assert.AreEqual(0f, d.Weight(1));
            Assert.AreEqual(100f, d.Weight(2), 1e-4); // 1.5 clamped to 1
            Assert.AreEqual(50f, d.Weight(3), 1e-4);
            d.Max = 2f;
            d.SetFrame(Frame(layout, V("jawOpen", 0.75f)));
            d.Advance(0.016f);
            Assert.AreEqual(150f, d.Weight(2), 1e-4);
        }

        [Test]
        public void SmoothingIsFrameRateIndependent()
        {
            CurveLayout layout = Arkit();
            var d = new ShapeDriver { Smoothing = 0.1f };
            d.Bind(Mesh, ShapeDriver.AutoMap(Mesh, KnownCurves.Arkit, "arkit"), layout);
            d.SetFrame(Frame(layout)); // the first frame is taken as it is: weights 0
            d.SetFrame(Frame(layout, V("jawOpen", 1f)));
            d.Advance(0.1f);
            Assert.AreEqual(100f * (1 - Math.Exp(-1)), d.Weight(2), 1e-3);
            var e = new ShapeDriver { Smoothing = 0.1f };
            e.Bind(Mesh, ShapeDriver.AutoMap(Mesh, KnownCurves.Arkit, "arkit"), layout);
            e.SetFrame(Frame(layout));
            e.SetFrame(Frame(layout, V("jawOpen", 1f)));
            for (int i = 0; i < 10; i++) e.Advance(0.01f);
            Assert.AreEqual(d.Weight(2), e.Weight(2), 1e-3);
        }

        [Test]
        public void TwoCurvesOnOneShapeAddUpAndProblemsAreListed()
        {
            CurveLayout layout = Arkit();
            var d = new ShapeDriver();
            d.Bind(Mesh, new[]
            {
                new ShapeBinding("JawOpen", "jawOpen", 0.5f), new ShapeBinding("JawOpen", "mouthClose", 0.5f),
                new ShapeBinding("Nose", "noseSneerLeft"), new ShapeBinding("Wrinkles", "mouthSmileLeftt"),
            }, layout);
            Assert.AreEqual(1, d.ShapeCount);
            Assert.AreEqual(2, d.Problems.Count);
            StringAssert.Contains("'Nose' is not on the mesh", d.Problems[0]);
            StringAssert.Contains("closest: mouthSmileLeft", d.Problems[1]);
            d.SetFrame(Frame(layout, V("jawOpen", 0.5f), V("mouthClose", 1f)));
            d.Advance(0f);
            Assert.AreEqual(75f, d.Weight(0), 1e-4);
        }

        [Test]
        public void FramesOfAnotherLayoutAreIgnored()
        {
            var d = new ShapeDriver();
            d.Bind(Mesh, ShapeDriver.AutoMap(Mesh, KnownCurves.Arkit, "arkit"), Arkit());
            Assert.IsFalse(d.SetFrame(Frame(Arkit(), V("jawOpen", 1f))));
            Assert.IsFalse(d.SetFrame(null));
        }

        [Test]
        public void TakeRecorderGrowsAndKeepsTimeOrder()
        {
            var r = new TakeRecorder(2);
            for (int i = 0; i < 1000; i++) r.Add(i / 60.0, new[] { (float)i, -i });
            r.Add(999 / 60.0, new[] { 5f, 6f }); // same time: replaces
            Assert.AreEqual(1000, r.Frames);
            Assert.AreEqual(5f, r.Value(999, 0));
            Assert.AreEqual(-500f, r.Value(500, 1));
            Assert.Throws<ArgumentException>(() => r.Add(0, new[] { 0f, 0f }));
        }
    }
}
