using System.Collections.Generic;
using Emorig.Bridge.Core;
using UnityEngine;
#if UNITY_EDITOR
using UnityEditor;
#endif

namespace Emorig.Bridge
{
    /// <summary>Drives a SkinnedMeshRenderer's blendshapes from one emorig subject: each binding maps
    /// a blendshape to a stream curve with a gain and an offset; weights are clamped, scaled to
    /// Unity's 0..100 and smoothed. Names match the way emorig's retarget/ matches them
    /// (eyeBlinkLeft = EyeBlinkLeft = eyeBlink_L = blendShape1.eyeBlinkLeft …). Can record what it
    /// plays into an AnimationClip.</summary>
    [AddComponentMenu("emorig/emorig Face")]
    public sealed class EmorigFace : MonoBehaviour
    {
        [Tooltip("Where the stream comes from.")]
        public EmorigReceiver receiver;
        [Tooltip("The emorig subject (emorig stream --subject NAME, or ?subject= on the sink); "
                 + "empty: the first subject that arrives.")]
        public string subject = "";
        [Tooltip("The mesh whose blendshapes the stream drives.")]
        public SkinnedMeshRenderer target;

        [Header("Response")]
        [Tooltip("Smoothing time constant in seconds (0 = none): a weight covers 63% of the way to a "
                 + "new value in this time, at any frame rate. emorig already smooths; keep this small.")]
        [Range(0f, 0.5f)]
        public float smoothing = 0.03f;
        [Tooltip("Blendshape weight for a curve value of 1 (Unity's blendshape weights run 0..100).")]
        public float weightScale = 100f;
        [Tooltip("Let gain and exaggerated emotion (intensity above 1) push weights past full.")]
        public bool allowOvershoot;

        [Header("Mapping")]
        [Tooltip("With no bindings below, bind every blendshape whose name matches a curve of the "
                 + "stream when it arrives. Use the inspector's Auto-map to edit gains and offsets.")]
        public bool autoMapAtRuntime = true;
        [Tooltip("Blendshape -> stream curve, weight = clamp(value * gain + offset) * weight scale.")]
        public List<ShapeBinding> bindings = new List<ShapeBinding>();

        private readonly ShapeDriver _driver = new ShapeDriver();
        private CurveLayout _layout;
        private Mesh _boundMesh;
        private int _boundBindingCount = -1;
        private string[] _shapeNames = new string[0];
        private long _lastSequence;
        private string _lastSubject;

        // recording: one channel per mesh blendshape, written while it is driven
        private TakeRecorder _take;
        private bool[] _recorded;
        private float[] _row;
        private double _takeStart = double.NaN;
        private double _takeLast;
        private double _takeFps;

        /// <summary>The stream layout the bindings are resolved against (null before the first frame).</summary>
        public CurveLayout Layout { get { return _layout; } }
        /// <summary>The resolved bindings: weights, and Problems for bindings that did not resolve.</summary>
        public ShapeDriver Driver { get { return _driver; } }
        public bool IsRecording { get { return _take != null; } }
        /// <summary>Frames in the take being recorded.</summary>
        public int RecordedFrames { get { return _take == null ? 0 : _take.Frames; } }

        /// <summary>The layout of the subject this face follows, if the stream is running.</summary>
        public CurveLayout LiveLayout()
        {
            Subject s = receiver == null ? null : receiver.FindSubject(subject);
            return s == null ? null : s.Layout;
        }

        private void Reset()
        {
            target = GetComponent<SkinnedMeshRenderer>();
            if (target == null) target = GetComponentInChildren<SkinnedMeshRenderer>();
#if UNITY_2023_1_OR_NEWER
            receiver = FindFirstObjectByType<EmorigReceiver>();
#else
            receiver = FindObjectOfType<EmorigReceiver>();
#endif
        }

        // After animation: the stream wins over an Animator writing the same blendshapes.
        private void LateUpdate()
        {
            if (receiver == null) return;
            Subject s = receiver.FindSubject(subject);
            Drive(s == null ? null : s.Latest(), Time.deltaTime);
        }

        /// <summary>Applies a frame (null or already seen: keep easing toward the last one) and
        /// advances smoothing by deltaTime. LateUpdate calls this; call it yourself to drive the face
        /// from frames you obtained another way (Receiver.FrameReceived, a file …).</summary>
        public void Drive(FaceFrame frame, float deltaTime)
        {
            if (target == null || target.sharedMesh == null) return;
            if (frame != null && frame.Layout != null && NeedsRebind(frame)) Rebind(frame.Layout);
            if (_layout == null) return;
            _driver.Smoothing = smoothing;
            _driver.WeightScale = weightScale;
            _driver.Max = allowOvershoot ? 2f : 1f;
            // Sequence numbers are per subject: a frame is new if it differs from the last one used.
            bool fresh = frame != null && (frame.Sequence != _lastSequence || frame.Subject != _lastSubject)
                         && _driver.SetFrame(frame);
            if (fresh)
            {
                _lastSequence = frame.Sequence;
                _lastSubject = frame.Subject;
            }
            _driver.Advance(deltaTime);
            for (int i = 0; i < _driver.ShapeCount; i++) target.SetBlendShapeWeight(_driver.ShapeIndex(i), _driver.Weight(i));
            if (fresh && _take != null) Record(frame.Time);
        }

        // Inspector edits (gains, offsets, bindings) take effect with the next frame.
        private void OnValidate()
        {
            _boundBindingCount = -1;
            // Unity fills the first row added to an empty list with zeros, not the field
            // initializers: a blank row with gain 0 is such a row, and would never move anything.
            foreach (ShapeBinding b in bindings)
                if (b != null && string.IsNullOrEmpty(b.blendShape) && string.IsNullOrEmpty(b.curve) && b.gain == 0f && b.offset == 0f)
                    b.gain = 1f;
        }

        private bool NeedsRebind(FaceFrame frame)
        {
            return frame.Layout != _layout || target.sharedMesh != _boundMesh || bindings.Count != _boundBindingCount;
        }

        /// <summary>Resolves the bindings again (after editing them while playing).</summary>
        public void Rebind(CurveLayout layout)
        {
            _layout = layout;
            _boundMesh = target.sharedMesh;
            _boundBindingCount = bindings.Count;
            _shapeNames = ShapeNames();
            IList<ShapeBinding> use = bindings;
            if (bindings.Count == 0 && autoMapAtRuntime)
                use = ShapeDriver.AutoMap(_shapeNames, new List<string>(layout.Curves), layout.Space);
            _driver.Bind(_shapeNames, use, layout);
            _lastSequence = 0; // apply the current frame again with the new bindings
            _lastSubject = null;
            if (_driver.ShapeCount == 0)
                Debug.LogWarning("emorig: no blendshape of " + target.name + " matches a curve of the " + layout.Space
                                 + " stream; auto-map in the inspector, or stream a space the mesh has (--rig arkit)", this);
            foreach (string problem in _driver.Problems) Debug.LogWarning("emorig: " + problem, this);
        }

        /// <summary>The mesh's blendshape names, in index order.</summary>
        public string[] ShapeNames()
        {
            Mesh mesh = target == null ? null : target.sharedMesh;
            if (mesh == null) return new string[0];
            var names = new string[mesh.blendShapeCount];
            for (int i = 0; i < names.Length; i++) names[i] = mesh.GetBlendShapeName(i);
            return names;
        }

        /// <summary>Replaces the bindings with one per blendshape whose name stands for one of
        /// `curves`; returns how many. Names that match nothing go to `unmatched`.</summary>
        public int AutoMap(IList<string> curves, string space, List<string> unmatched = null)
        {
            bindings = ShapeDriver.AutoMap(ShapeNames(), curves, space, unmatched);
            _layout = null; // resolve again at the next frame
            return bindings.Count;
        }

        // -- recording ------------------------------------------------------------------------

        /// <summary>Starts recording the driven weights, one key per stream frame, on the stream's clock.</summary>
        public void StartRecording()
        {
            int shapes = target == null || target.sharedMesh == null ? 0 : target.sharedMesh.blendShapeCount;
            _take = new TakeRecorder(shapes);
            _recorded = new bool[shapes];
            _row = new float[shapes];
            _takeStart = double.NaN;
            _takeFps = 0;
        }

        /// <summary>Stops recording; the take as a clip (null if no frame arrived). Curve paths are
        /// relative to the nearest Animator above the mesh, else to the top of its hierarchy. In
        /// the editor the clip is a normal (Mecanim) clip for AssetDatabase.CreateAsset; in a
        /// player it is a legacy clip, the only kind Unity lets a player build.</summary>
        public AnimationClip StopRecording()
        {
            TakeRecorder take = _take;
            _take = null;
            if (take == null || take.Frames == 0) return null;
            var clip = new AnimationClip { name = (target != null ? target.name : name) + " emorig take" };
            if (_takeFps > 0) clip.frameRate = (float)_takeFps;
#if !UNITY_EDITOR
            clip.legacy = true;
#endif
            string path = RelativePath(target.transform, AnimationRoot());
            var keys = new Keyframe[take.Frames];
            for (int c = 0; c < take.Channels; c++)
            {
                if (!_recorded[c] || c >= _shapeNames.Length) continue;
                for (int f = 0; f < take.Frames; f++) keys[f] = new Keyframe((float)take.Time(f), take.Value(f, c));
                var curve = new AnimationCurve((Keyframe[])keys.Clone());
                string property = "blendShape." + _shapeNames[c];
#if UNITY_EDITOR
                AnimationUtility.SetEditorCurve(clip, EditorCurveBinding.FloatCurve(path, typeof(SkinnedMeshRenderer), property), curve);
#else
                clip.SetCurve(path, typeof(SkinnedMeshRenderer), property, curve);
#endif
            }
            return clip;
        }

        private void Record(double time)
        {
            if (double.IsNaN(_takeStart))
            {
                _takeStart = time;
                _takeLast = double.NegativeInfinity;
                _takeFps = _layout.Fps;
            }
            double t = time - _takeStart;
            if (t < _takeLast || _row.Length != _take.Channels) return; // the stream restarted: keep the take as it is
            _takeLast = t;
            for (int i = 0; i < _driver.ShapeCount; i++)
            {
                int shape = _driver.ShapeIndex(i);
                if (shape >= _row.Length) continue;
                _row[shape] = _driver.Weight(i);
                _recorded[shape] = true;
            }
            _take.Add(t, _row);
        }

        private Transform AnimationRoot()
        {
            var animator = target.GetComponentInParent<Animator>();
            return animator != null ? animator.transform : target.transform.root;
        }

        private static string RelativePath(Transform t, Transform root)
        {
            var parts = new List<string>();
            for (Transform x = t; x != null && x != root; x = x.parent) parts.Insert(0, x.name);
            return string.Join("/", parts.ToArray());
        }
    }
}
