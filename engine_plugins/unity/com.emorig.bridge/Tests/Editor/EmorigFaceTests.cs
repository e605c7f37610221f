using System.Collections.Generic;
using Emorig.Bridge.Core;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;

namespace Emorig.Bridge.Tests
{
    /// <summary>EmorigFace on a real SkinnedMeshRenderer (Unity Test Runner, Edit Mode). Not run by
    /// tests/test_unity_core.py, which only compiles this file against a stub of Unity's API.</summary>
    public class EmorigFaceTests
    {
        private static readonly string[] Shapes = { "blendShape1.eyeBlink_L", "JawOpen", "Face.mouthSmile_R", "Wrinkles" };
        private GameObject _root;
        private Mesh _mesh;
        private SkinnedMeshRenderer _renderer;
        private EmorigFace _face;

        [SetUp]
        public void MakeAFace()
        {
            _mesh = new Mesh { vertices = new Vector3[3], triangles = new[] { 0, 1, 2 } };
            foreach (string shape in Shapes) _mesh.AddBlendShapeFrame(shape, 100f, new Vector3[3], new Vector3[3], new Vector3[3]);
            _root = new GameObject("Avatar");
            var head = new GameObject("Head");
            head.transform.parent = _root.transform;
            _renderer = head.AddComponent<SkinnedMeshRenderer>();
            _renderer.sharedMesh = _mesh;
            _face = head.AddComponent<EmorigFace>();
            _face.target = _renderer;
            _face.smoothing = 0f;
        }

        [TearDown]
        public void Clean()
        {
            Object.DestroyImmediate(_root);
            Object.DestroyImmediate(_mesh);
        }

        private static FaceFrame Frame(CurveLayout layout, long sequence, double time, float jawOpen)
        {
            var f = new FaceFrame { Layout = layout, Space = layout.Space, Subject = layout.Subject, Sequence = sequence, Time = time };
            f.SetValueCount(layout.CurveCount);
            f.Values[NameIndex.ForLayout(layout).Find("jawOpen")] = jawOpen;
            f.Values[NameIndex.ForLayout(layout).Find("eyeBlinkLeft")] = 0.25f;
            return f;
        }

        [Test]
        public void AutoMapBindsEverySpellingOfTheMesh()
        {
            var unmatched = new List<string>();
            Assert.AreEqual(3, _face.AutoMap(KnownCurves.Arkit, "arkit", unmatched));
            Assert.AreEqual(new[] { "Wrinkles" }, unmatched.ToArray());
            Assert.AreEqual("mouthSmileRight", _face.bindings[2].curve);
        }

        [Test]
        public void DriveSetsBlendShapeWeights()
        {
            var layout = new CurveLayout("Ada", "arkit", 60, KnownCurves.Arkit, Emotions.Labels);
            _face.Drive(Frame(layout, 1, 0, 0.5f), 0.016f); // no bindings: auto-mapped at runtime
            Assert.AreEqual(50f, _renderer.GetBlendShapeWeight(1), 1e-3);
            Assert.AreEqual(25f, _renderer.GetBlendShapeWeight(0), 1e-3);
            _face.bindings = new List<ShapeBinding> { new ShapeBinding("JawOpen", "JawOpen", 2f, 0f) };
            _face.Drive(Frame(layout, 2, 1 / 60.0, 0.25f), 0.016f);
            Assert.AreEqual(50f, _renderer.GetBlendShapeWeight(1), 1e-3);
        }

        [Test]
        public void RecordingMakesAClipWithOneCurvePerDrivenShape()
        {
            var layout = new CurveLayout("Ada", "arkit", 60, KnownCurves.Arkit, Emotions.Labels);
            _face.StartRecording();
            for (int i = 0; i < 30; i++) _face.Drive(Frame(layout, i + 1, 10 + i / 60.0, i / 30f), 1 / 60f);
            AnimationClip clip = _face.StopRecording();
            Assert.IsNotNull(clip);
            EditorCurveBinding[] curves = AnimationUtility.GetCurveBindings(clip);
            Assert.AreEqual(3, curves.Length); // the three auto-mapped shapes; "Wrinkles" is not driven
            var jaw = AnimationUtility.GetEditorCurve(clip, EditorCurveBinding.FloatCurve("Head", typeof(SkinnedMeshRenderer), "blendShape.JawOpen"));
            Assert.IsNotNull(jaw);
            Assert.AreEqual(30, jaw.length);
            Assert.AreEqual(29 / 60f, jaw.keys[29].time, 1e-4);
            Assert.AreEqual(100f * 29 / 30, jaw.keys[29].value, 1e-3);
            Object.DestroyImmediate(clip);
        }
    }
}
