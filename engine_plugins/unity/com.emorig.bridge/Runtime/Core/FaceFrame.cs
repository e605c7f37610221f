using System;
using System.Collections.Generic;

namespace Emorig.Bridge.Core
{
    /// <summary>The emotion labels of schema 1, in the order of every emotion_probs list.</summary>
    public static class Emotions
    {
        public const int Count = 8;

        public static readonly string[] Labels = { "neutral", "happy", "sad", "angry", "surprised", "fear", "disgust", "contempt" };
    }

    /// <summary>What a subject's values mean: its rig space, frame rate and curve names, from the
    /// latest OSC names message or ZeroMQ static (or the fixed Live Link Face list). Immutable, so
    /// a frame can carry a reference to the layout it was checked against.</summary>
    public sealed class CurveLayout
    {
        public readonly string Subject;
        public readonly string Space;
        public readonly double Fps;
        public readonly int Schema;
        private readonly string[] _curves;
        private readonly string[] _emotions;

        public CurveLayout(string subject, string space, double fps, IList<string> curves, IList<string> emotions, int schema = 1)
        {
            Subject = subject;
            Space = space;
            Fps = fps;
            Schema = schema;
            _curves = new string[curves.Count];
            curves.CopyTo(_curves, 0);
            _emotions = new string[emotions.Count];
            emotions.CopyTo(_emotions, 0);
        }

        /// <summary>The curve names, in the order of a frame's values.</summary>
        public IReadOnlyList<string> Curves { get { return _curves; } }
        /// <summary>The emotion labels, in the order of a frame's EmotionProbs.</summary>
        public IReadOnlyList<string> Emotions { get { return _emotions; } }
        public int CurveCount { get { return _curves.Length; } }

        /// <summary>Same space, rate, curves and labels: a repeated announcement changes nothing.</summary>
        public bool SameAs(CurveLayout other)
        {
            if (other == null || other.Space != Space || other.Fps != Fps || other.Schema != Schema) return false;
            if (other._curves.Length != _curves.Length || other._emotions.Length != _emotions.Length) return false;
            for (int i = 0; i < _curves.Length; i++)
                if (other._curves[i] != _curves[i]) return false;
            for (int i = 0; i < _emotions.Length; i++)
                if (other._emotions[i] != _emotions[i]) return false;
            return true;
        }

        public override string ToString()
        {
            return Subject + ": " + Space + ", " + _curves.Length + " curves at " + Fps + " fps";
        }
    }

    /// <summary>One frame of one subject. Decoders fill a frame in place and receivers hand frames
    /// between threads by reference, so these objects are reused: never keep one past the moment it
    /// was given to you — copy what you need (CopyTo).</summary>
    public sealed class FaceFrame
    {
        public string Subject;
        /// <summary>Frames since the stream started (OSC and Live Link Face wrap at 2^31).</summary>
        public long Number;
        /// <summary>Audio-clock time of the frame, in seconds since the stream started.</summary>
        public double Time;
        public string Space;
        /// <summary>The values; only the first ValueCount are this frame's (the array is reused).</summary>
        public float[] Values = new float[0];
        public int ValueCount;
        public bool HasEmotion;
        public string Emotion;
        public float Intensity;
        /// <summary>Probability of each label, in the order of Layout.Emotions.</summary>
        public readonly float[] EmotionProbs = new float[Emotions.Count];
        /// <summary>The OSC bundle's time tag (OSC only; 1 means "immediately").</summary>
        public ulong TimeTag;
        /// <summary>The layout this frame was checked against; set when a receiver accepts it.</summary>
        public CurveLayout Layout;
        /// <summary>1, 2, 3 … per subject, set when a receiver accepts it: tells a reader whether
        /// the latest frame is one it has seen.</summary>
        public long Sequence;

        // Set by the receiver thread just before it publishes this frame, cleared by the reader
        // that takes it (see Subject): the one bit the two threads hand over.
        internal bool Fresh;

        /// <summary>Sets ValueCount, growing Values if needed (only when a bigger space appears).</summary>
        public void SetValueCount(int count)
        {
            if (Values.Length < count) Values = new float[count];
            ValueCount = count;
        }

        public void CopyTo(FaceFrame other)
        {
            other.Subject = Subject;
            other.Number = Number;
            other.Time = Time;
            other.Space = Space;
            other.SetValueCount(ValueCount);
            Array.Copy(Values, other.Values, ValueCount);
            other.HasEmotion = HasEmotion;
            other.Emotion = Emotion;
            other.Intensity = Intensity;
            Array.Copy(EmotionProbs, other.EmotionProbs, EmotionProbs.Length);
            other.TimeTag = TimeTag;
            other.Layout = Layout;
            other.Sequence = Sequence;
        }
    }
}
