using System;
using System.Collections.Generic;

namespace Emorig.Bridge.Core
{
    /// <summary>One blendshape driven by one stream curve. Unity serializes this class (public
    /// fields, [Serializable]) although it lives in the engine-free core.</summary>
    [Serializable]
    public class ShapeBinding
    {
        /// <summary>The mesh's blendshape name, as the mesh spells it.</summary>
        public string blendShape;
        /// <summary>The stream curve, in any spelling NameIndex understands (auto-map writes the
        /// stream's own name).</summary>
        public string curve;
        /// <summary>weight = clamp(value * gain + offset, min, max) * weight scale.</summary>
        public float gain = 1f;
        public float offset;
        /// <summary>Leaves the blendshape alone. (A "muted" flag rather than "enabled": Unity gives
        /// the first row added to an empty list default values, not field initializers.)</summary>
        public bool muted;

        public ShapeBinding() { }

        public ShapeBinding(string blendShape, string curve, float gain = 1f, float offset = 0f)
        {
            this.blendShape = blendShape;
            this.curve = curve;
            this.gain = gain;
            this.offset = offset;
        }
    }

    /// <summary>Stream values to blendshape weights: bindings resolved against a mesh's shape names
    /// and a stream's layout, per-binding gain and offset, clamping, frame-rate independent
    /// smoothing. Pure arithmetic, so it is tested outside Unity; EmorigFace feeds it frames and
    /// writes its weights to a SkinnedMeshRenderer.</summary>
    public sealed class ShapeDriver
    {
        /// <summary>Smoothing time constant in seconds (0 = none): the weight covers 63% of the way
        /// to a new value in this time, whatever the frame rate.</summary>
        public float Smoothing;
        /// <summary>Unity's blendshape weights run 0..100 for stream values 0..1.</summary>
        public float WeightScale = 100f;
        /// <summary>Clamp of value * gain + offset, before scaling.</summary>
        public float Min = 0f, Max = 1f;

        private int[] _bindingShape = new int[0];   // per resolved binding: index into _shapes
        private int[] _bindingCurve = new int[0];   // per resolved binding: index into the frame's values
        private float[] _gain = new float[0], _offset = new float[0];
        private int[] _shapes = new int[0];         // distinct mesh shape indices driven
        private float[] _target = new float[0], _current = new float[0];
        private bool _started;
        private readonly List<string> _problems = new List<string>();

        /// <summary>The layout the bindings were resolved against (null before Bind).</summary>
        public CurveLayout Layout { get; private set; }
        /// <summary>How many mesh blendshapes are driven.</summary>
        public int ShapeCount { get { return _shapes.Length; } }
        /// <summary>Bindings that could not be resolved, one line each, for an inspector or a log.</summary>
        public IReadOnlyList<string> Problems { get { return _problems; } }

        /// <summary>The mesh blendshape index of driven shape i.</summary>
        public int ShapeIndex(int i) { return _shapes[i]; }

        /// <summary>The current weight of driven shape i (after gain, clamp, smoothing and scale).</summary>
        public float Weight(int i) { return _current[i] * WeightScale; }

        /// <summary>Resolves `bindings` against the mesh's blendshape names and the stream layout.
        /// A blendshape is found by its exact name, else by NameIndex's forgiving rules; a curve by
        /// NameIndex over the layout's curves. Call again when either changes.</summary>
        public void Bind(IList<string> shapeNames, IList<ShapeBinding> bindings, CurveLayout layout)
        {
            Layout = layout;
            _problems.Clear();
            var shapeIndex = new NameIndex(shapeNames);
            NameIndex curveIndex = NameIndex.ForLayout(layout);
            var shapes = new List<int>();
            var bShape = new List<int>();
            var bCurve = new List<int>();
            var gain = new List<float>();
            var offset = new List<float>();
            foreach (ShapeBinding b in bindings)
            {
                if (b == null || b.muted) continue;
                int shape = shapeNames.IndexOf(b.blendShape);
                if (shape < 0) shape = shapeIndex.Find(b.blendShape);
                if (shape < 0)
                {
                    _problems.Add("blendshape '" + b.blendShape + "' is not on the mesh");
                    continue;
                }
                int curve = curveIndex.Find(b.curve);
                if (curve < 0)
                {
                    List<string> near = curveIndex.Closest(b.curve ?? "");
                    _problems.Add("curve '" + b.curve + "' is not in the stream's " + layout.Space + " space"
                                  + (near.Count > 0 ? " (closest: " + string.Join(", ", near.ToArray()) + ")" : ""));
                    continue;
                }
                int slot = shapes.IndexOf(shape);
                if (slot < 0)
                {
                    slot = shapes.Count;
                    shapes.Add(shape);
                }
                bShape.Add(slot);
                bCurve.Add(curve);
                gain.Add(b.gain);
                offset.Add(b.offset);
            }
            _shapes = shapes.ToArray();
            _bindingShape = bShape.ToArray();
            _bindingCurve = bCurve.ToArray();
            _gain = gain.ToArray();
            _offset = offset.ToArray();
            _target = new float[_shapes.Length];
            _current = new float[_shapes.Length];
            _started = false;
        }

        /// <summary>Sets the targets from a frame of the bound layout. Bindings driving the same
        /// blendshape add up. Frames of another layout are ignored (Bind first).</summary>
        public bool SetFrame(FaceFrame frame)
        {
            if (frame == null || frame.Layout != Layout) return false;
            Array.Clear(_target, 0, _target.Length);
            for (int i = 0; i < _bindingCurve.Length; i++)
            {
                int c = _bindingCurve[i];
                float v = c < frame.ValueCount ? frame.Values[c] : 0f;
                v = v * _gain[i] + _offset[i];
                if (v < Min) v = Min;
                if (v > Max) v = Max;
                _target[_bindingShape[i]] += v;
            }
            if (!_started)
            {
                Array.Copy(_target, _current, _target.Length); // the first frame is not faded in from zero
                _started = true;
            }
            return true;
        }

        /// <summary>Moves the weights toward the targets by `dt` seconds of smoothing.</summary>
        public void Advance(float dt)
        {
            float alpha = Smoothing <= 0f ? 1f : dt <= 0f ? 0f : (float)(1.0 - Math.Exp(-dt / Smoothing));
            for (int i = 0; i < _current.Length; i++) _current[i] += (_target[i] - _current[i]) * alpha;
        }

        /// <summary>One binding per blendshape whose name stands for one of `curves` (a stream's, or
        /// KnownCurves'), under NameIndex's rules with the space's optional prefix. Names that
        /// match nothing go to `unmatched` if given.</summary>
        public static List<ShapeBinding> AutoMap(IList<string> shapeNames, IList<string> curves, string space, List<string> unmatched = null)
        {
            var index = new NameIndex(curves, NameIndex.OptionalPrefixFor(space));
            var result = new List<ShapeBinding>();
            foreach (string name in shapeNames)
            {
                int i = index.Find(name);
                if (i >= 0) result.Add(new ShapeBinding(name, curves[i]));
                else if (unmatched != null) unmatched.Add(name);
            }
            return result;
        }
    }

    /// <summary>Weights over time, for saving a take as an animation clip: one row per stream frame,
    /// one column per driven blendshape. Grows by doubling; nothing else allocates.</summary>
    public sealed class TakeRecorder
    {
        public readonly int Channels;
        private double[] _times = new double[256];
        private float[] _values;

        public TakeRecorder(int channels)
        {
            Channels = channels;
            _values = new float[256 * Math.Max(channels, 1)];
        }

        public int Frames { get; private set; }

        /// <summary>Appends a row. Times must not go backwards (a restarted stream: start a new take);
        /// a row at the same time as the last replaces it.</summary>
        public void Add(double time, IList<float> row)
        {
            if (Frames > 0 && time < _times[Frames - 1]) throw new ArgumentException("take times must not go backwards");
            if (Frames > 0 && time == _times[Frames - 1]) Frames--;
            if (Frames == _times.Length)
            {
                Array.Resize(ref _times, _times.Length * 2);
                Array.Resize(ref _values, _values.Length * 2);
            }
            _times[Frames] = time;
            for (int c = 0; c < Channels; c++) _values[Frames * Channels + c] = row[c];
            Frames++;
        }

        public double Time(int frame) { return _times[frame]; }

        public float Value(int frame, int channel) { return _values[frame * Channels + channel]; }
    }
}
