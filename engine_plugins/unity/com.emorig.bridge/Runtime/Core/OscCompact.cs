namespace Emorig.Bridge.Core
{
    public enum OscCompactKind
    {
        Invalid,
        Names,
        Frame,
    }

    /// <summary>emorig's compact OSC format (docs/protocol.md, "mode=compact"): a names message
    /// `/emorig/SUBJECT/names ,isf s…`, or a frame bundle of /frame (,ids), /values (,f…) and
    /// optionally /emotion (,sf + 8 f). Strict like the reference reader; messages of a bundle with
    /// addresses it does not know are ignored, as the versioning rules ask (they must still be
    /// well-formed OSC 1.0).
    /// One decoder per thread: it keeps a small string cache.</summary>
    public sealed class OscCompactDecoder
    {
        public const int SchemaVersion = 1;

        private static readonly byte[] Root = { (byte)'/', (byte)'e', (byte)'m', (byte)'o', (byte)'r', (byte)'i', (byte)'g', (byte)'/' };
        private static readonly byte[] LeafNames = Ascii("names");
        private static readonly byte[] LeafFrame = Ascii("frame");
        private static readonly byte[] LeafValues = Ascii("values");
        private static readonly byte[] LeafEmotion = Ascii("emotion");
        private const string EmotionTags = "sfffffffff"; // label, intensity, the 8 probabilities

        private readonly StringCache _strings = new StringCache(64);

        /// <summary>Why the last Decode returned Invalid (a Reasons code).</summary>
        public string Reason { get; private set; }

        /// <summary>The schema version of the last message refused as unsupported_schema.</summary>
        public long UnsupportedSchema { get; private set; }

        /// <summary>Decodes one datagram, data[0..length). A frame bundle fills `frame` (Layout and
        /// Sequence untouched); a names message comes back as a new CurveLayout in `names`.</summary>
        public OscCompactKind Decode(byte[] data, int length, FaceFrame frame, out CurveLayout names)
        {
            names = null;
            Reason = null;
            // The reference reads anything starting "#bundle" as a bundle and anything else as a message.
            if (length >= 7 && Bytes.Equal(data, 0, Osc.BundleTag, 0, 7))
                return DecodeBundle(data, length, frame) ? OscCompactKind.Frame : OscCompactKind.Invalid;
            names = DecodeNames(data, length);
            return names != null ? OscCompactKind.Names : OscCompactKind.Invalid;
        }

        private CurveLayout DecodeNames(byte[] d, int length)
        {
            OscMessageView m;
            if (!OscMessageView.TryParse(d, 0, length, out m)) return Fail(Reasons.BadOsc);
            int subjectStart, subjectLength;
            if (!SubjectOf(d, m.AddressStart, m.AddressLength, LeafNames, out subjectStart, out subjectLength))
                return Fail(Reasons.UnknownAddress);
            if (m.TagCount >= 1 && m.Tag(0) == 'i')
            {
                int schema = m.Args().ReadInt32();
                if (schema != SchemaVersion)
                {
                    UnsupportedSchema = schema;
                    return Fail(Reasons.UnsupportedSchema);
                }
            }
            if (!m.TagsStartWith("isf") || !m.AllTags('s', 3)) return Fail(Reasons.BadArguments);
            var args = m.Args();
            args.ReadInt32();
            int s, n;
            args.ReadString(out s, out n);
            string space = _strings.Get(d, s, n);
            float fps = args.ReadFloat();
            // Once a second per subject: allocating the names here is fine.
            var curves = new string[m.TagCount - 3];
            for (int i = 0; i < curves.Length; i++)
            {
                args.ReadString(out s, out n);
                curves[i] = System.Text.Encoding.UTF8.GetString(d, s, n);
            }
            string subject = _strings.Get(d, subjectStart, subjectLength);
            return new CurveLayout(subject, space, fps, curves, Emotions.Labels, SchemaVersion);
        }

        private bool DecodeBundle(byte[] d, int length, FaceFrame frame)
        {
            if (length < 16 || !Osc.IsBundle(d, length)) return FailBool(Reasons.BadOsc);
            frame.TimeTag = Bytes.UInt64BE(d, 8);
            OscMessageView frameMsg = default(OscMessageView), valuesMsg = default(OscMessageView), emotionMsg = default(OscMessageView);
            bool haveFrame = false, haveValues = false, haveEmotion = false;
            int at = 16, elementStart, elementEnd;
            bool malformed;
            while (Osc.NextElement(d, ref at, length, out elementStart, out elementEnd, out malformed))
            {
                // Every element must be a well-formed message (a nested bundle is refused, as by the
                // reference); those with addresses this reader does not know are then ignored.
                OscMessageView m;
                if (!OscMessageView.TryParse(d, elementStart, elementEnd, out m)) return FailBool(Reasons.BadOsc);
                // A repeated message replaces the earlier one, as in the reference.
                if (Is(m, LeafFrame)) { frameMsg = m; haveFrame = true; }
                else if (Is(m, LeafValues)) { valuesMsg = m; haveValues = true; }
                else if (Is(m, LeafEmotion)) { emotionMsg = m; haveEmotion = true; }
            }
            if (malformed) return FailBool(Reasons.BadOsc);
            if (!haveFrame || !haveValues) return FailBool(Reasons.IncompleteFrame);

            int fs, fn, vs, vn;
            SubjectOfAny(frameMsg, out fs, out fn);
            SubjectOfAny(valuesMsg, out vs, out vn);
            if (vn != fn || !Bytes.Equal(d, fs, d, vs, fn)) return FailBool(Reasons.MixedSubjects);
            if (haveEmotion)
            {
                int es, en;
                SubjectOfAny(emotionMsg, out es, out en);
                if (en != fn || !Bytes.Equal(d, fs, d, es, fn)) return FailBool(Reasons.MixedSubjects);
            }

            if (!frameMsg.TagsStartWith("ids")) return FailBool(Reasons.BadArguments);
            var args = frameMsg.Args();
            frame.Number = args.ReadInt32();
            frame.Time = args.ReadDouble();
            int s, n;
            args.ReadString(out s, out n);

            if (!valuesMsg.AllTags('f', 0)) return FailBool(Reasons.BadArguments);
            frame.SetValueCount(valuesMsg.TagCount);
            var values = valuesMsg.Args();
            bool finite = Bytes.IsFinite(frame.Time);
            for (int i = 0; i < valuesMsg.TagCount; i++)
            {
                float v = values.ReadFloat();
                frame.Values[i] = v;
                finite &= Bytes.IsFinite(v);
            }

            frame.HasEmotion = haveEmotion;
            frame.Emotion = null;
            frame.Intensity = 0;
            System.Array.Clear(frame.EmotionProbs, 0, frame.EmotionProbs.Length);
            if (haveEmotion)
            {
                if (!emotionMsg.TagsStartWith(EmotionTags)) return FailBool(Reasons.BadArguments);
                var e = emotionMsg.Args();
                int ls, ln;
                e.ReadString(out ls, out ln);
                frame.Emotion = _strings.Get(d, ls, ln);
                frame.Intensity = e.ReadFloat();
                finite &= Bytes.IsFinite(frame.Intensity); // stricter than the reference, which lets a NaN intensity through
                for (int i = 0; i < Emotions.Count; i++)
                {
                    frame.EmotionProbs[i] = e.ReadFloat();
                    finite &= Bytes.IsFinite(frame.EmotionProbs[i]);
                }
            }
            if (!finite) return FailBool(Reasons.NonFiniteValue);
            frame.Space = _strings.Get(d, s, n);
            frame.Subject = _strings.Get(d, fs, fn);
            return true;
        }

        /// <summary>The subject of an address `/emorig/SUBJECT/LEAF` (SUBJECT without '/', possibly
        /// empty, like the reference's split("/")).</summary>
        private static bool SubjectOf(byte[] d, int address, int length, byte[] leaf, out int subjectStart, out int subjectLength)
        {
            subjectStart = address + Root.Length;
            subjectLength = 0;
            int end = address + length;
            if (length < Root.Length + 1 + leaf.Length || !Bytes.Equal(d, address, Root, 0, Root.Length)) return false;
            if (!Bytes.Equal(d, end - leaf.Length, leaf, 0, leaf.Length) || d[end - leaf.Length - 1] != (byte)'/') return false;
            subjectLength = end - leaf.Length - 1 - subjectStart;
            for (int i = 0; i < subjectLength; i++)
                if (d[subjectStart + i] == (byte)'/') return false;
            return true;
        }

        private static bool Is(OscMessageView m, byte[] leaf)
        {
            int start, length;
            return SubjectOf(m.Data, m.AddressStart, m.AddressLength, leaf, out start, out length);
        }

        private static void SubjectOfAny(OscMessageView m, out int start, out int length)
        {
            // Only called on messages already matched by SubjectOf: the subject runs from after
            // "/emorig/" to the next '/'.
            start = m.AddressStart + Root.Length;
            int i = start;
            while (m.Data[i] != (byte)'/') i++;
            length = i - start;
        }

        private CurveLayout Fail(string reason)
        {
            Reason = reason;
            return null;
        }

        private bool FailBool(string reason)
        {
            Reason = reason;
            return false;
        }

        private static byte[] Ascii(string s)
        {
            return System.Text.Encoding.ASCII.GetBytes(s);
        }
    }
}
