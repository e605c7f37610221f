namespace Emorig.Bridge.Core
{
    public enum ZmqKind
    {
        Invalid,
        Static,
        Frame,
        /// <summary>A well-formed message of a type this reader does not know: ignore it.</summary>
        Unknown,
    }

    /// <summary>The payload of emorig's ZeroMQ messages (docs/protocol.md, "ZeroMQ"): one msgpack
    /// map, `static` or `frame`. Keys are looked up by name, unknown keys and message types are
    /// ignored, and the checks and their order follow the reference reader, so a payload is refused
    /// with the same reason code. One decoder per thread.</summary>
    public sealed class ZmqDecoder
    {
        public const int SchemaVersion = 1;

        // The fields either message type uses; a payload's values are located by these names.
        private const int FType = 0, FSchema = 1, FSubject = 2, FSpace = 3, FFps = 4, FCurves = 5, FEmotions = 6,
            FNumber = 7, FTime = 8, FValues = 9, FEmotion = 10, FEmotionProbs = 11, FIntensity = 12;
        private static readonly byte[][] FieldNames = Ascii(
            "type", "schema", "subject", "space", "fps", "curves", "emotions",
            "number", "time", "values", "emotion", "emotion_probs", "intensity");
        private static readonly byte[] TypeStatic = Ascii("static")[0];
        private static readonly byte[] TypeFrame = Ascii("frame")[0];

        private readonly int[] _at = new int[FieldNames.Length];
        private readonly StringCache _strings = new StringCache(64);

        /// <summary>Why the last Decode returned Invalid (a Reasons code).</summary>
        public string Reason { get; private set; }

        /// <summary>The schema version of the last message refused as unsupported_schema.</summary>
        public long UnsupportedSchema { get; private set; }

        /// <summary>The `type` of the last message that came back Unknown.</summary>
        public string UnknownType { get; private set; }

        /// <summary>Decodes payload[offset..offset+length). A frame fills `frame` (Layout and Sequence
        /// untouched); a static comes back as a new CurveLayout in `layout`.</summary>
        public ZmqKind Decode(byte[] payload, int offset, int length, FaceFrame frame, out CurveLayout layout)
        {
            layout = null;
            Reason = null;
            byte[] d = payload;
            int end = offset + length;
            // First the whole value must be one well-formed msgpack value, and nothing after it.
            int at = offset;
            if (!MsgPack.SkipValue(d, ref at, end) || at != end) return Fail(Reasons.NotMsgpack);
            at = offset;
            MsgPackToken map;
            MsgPack.ReadToken(d, ref at, end, out map);
            if (map.Kind != MsgPackKind.Map) return Fail(Reasons.NotAMap);

            for (int i = 0; i < _at.Length; i++) _at[i] = -1;
            for (int i = 0; i < map.Length; i++)
            {
                MsgPackToken key;
                MsgPack.ReadToken(d, ref at, end, out key);
                if (key.Kind == MsgPackKind.Str)
                    for (int f = 0; f < FieldNames.Length; f++)
                        if (Bytes.Equal(d, key.Start, key.Length, FieldNames[f])) _at[f] = at; // a repeated key: the last one counts
                MsgPack.SkipValue(d, ref at, end);
            }

            MsgPackToken type, schema;
            bool haveType = Get(d, end, FType, out type) && type.Kind == MsgPackKind.Str;
            bool haveSchema = Get(d, end, FSchema, out schema) && schema.IsInteger;
            if (!haveType || !haveSchema) return Fail(Reasons.MissingField);
            if (schema.Kind != MsgPackKind.UInt || schema.UInt != SchemaVersion)
            {
                UnsupportedSchema = schema.Kind == MsgPackKind.Int ? schema.Int : (long)System.Math.Min(schema.UInt, long.MaxValue);
                return Fail(Reasons.UnsupportedSchema);
            }
            if (Bytes.Equal(d, type.Start, type.Length, TypeStatic))
                return DecodeStatic(d, end, out layout) ? ZmqKind.Static : ZmqKind.Invalid;
            if (Bytes.Equal(d, type.Start, type.Length, TypeFrame))
                return DecodeFrame(d, end, frame) ? ZmqKind.Frame : ZmqKind.Invalid;
            UnknownType = _strings.Get(d, type.Start, type.Length);
            return ZmqKind.Unknown;
        }

        private bool DecodeStatic(byte[] d, int end, out CurveLayout layout)
        {
            layout = null;
            MsgPackToken subject, space, fps, curves, emotions;
            // Checked in the reference's order, so the first problem gives the same reason.
            if (!Field(d, end, FSubject, MsgPackKind.Str, out subject)) return false;
            if (!Field(d, end, FSpace, MsgPackKind.Str, out space)) return false;
            if (!NumberField(d, end, FFps, out fps)) return false;
            if (!Field(d, end, FCurves, MsgPackKind.Array, out curves)) return false;
            if (!Field(d, end, FEmotions, MsgPackKind.Array, out emotions)) return false;
            string[] curveNames = Strings(d, end, _at[FCurves], curves.Length);
            string[] labels = curveNames == null ? null : Strings(d, end, _at[FEmotions], emotions.Length);
            if (labels == null) return Refuse(Reasons.BadField);
            layout = new CurveLayout(
                _strings.Get(d, subject.Start, subject.Length), _strings.Get(d, space.Start, space.Length),
                fps.AsDouble(), curveNames, labels, SchemaVersion);
            return true;
        }

        private bool DecodeFrame(byte[] d, int end, FaceFrame frame)
        {
            MsgPackToken subject, number, time, space, values, emotion, probs, intensity;
            if (!Field(d, end, FSubject, MsgPackKind.Str, out subject)) return false;
            if (!Present(d, end, FNumber, out number)) return false;
            if (!number.IsInteger) return Refuse(Reasons.BadField);
            if (!NumberField(d, end, FTime, out time)) return false;
            if (!Field(d, end, FSpace, MsgPackKind.Str, out space)) return false;
            if (!Field(d, end, FValues, MsgPackKind.Bin, out values)) return false;
            if (!Field(d, end, FEmotion, MsgPackKind.Str, out emotion)) return false;
            if (!Field(d, end, FEmotionProbs, MsgPackKind.Array, out probs)) return false;
            if (!NumberField(d, end, FIntensity, out intensity)) return false;
            if ((values.Length & 3) != 0) return Refuse(Reasons.BadValuesLength);
            if (probs.Length != Emotions.Count) return Refuse(Reasons.BadField);
            int at = _at[FEmotionProbs];
            MsgPackToken array, p;
            MsgPack.ReadToken(d, ref at, end, out array);
            for (int i = 0; i < Emotions.Count; i++)
            {
                MsgPack.ReadToken(d, ref at, end, out p);
                if (!p.IsNumber || !Bytes.IsFinite(p.AsDouble())) return Refuse(Reasons.BadField);
                frame.EmotionProbs[i] = (float)p.AsDouble();
            }
            int count = values.Length / 4;
            frame.SetValueCount(count);
            bool finite = true;
            for (int i = 0; i < count; i++)
            {
                float v = Bytes.FloatLE(d, values.Start + 4 * i); // little-endian on the wire, unlike OSC
                frame.Values[i] = v;
                finite &= Bytes.IsFinite(v);
            }
            if (!finite) return Refuse(Reasons.NonFiniteValue);
            frame.Subject = _strings.Get(d, subject.Start, subject.Length);
            // Any msgpack integer, like the reference; past 2^63 frames (never) it wraps.
            frame.Number = number.Kind == MsgPackKind.Int ? number.Int : unchecked((long)number.UInt);
            frame.Time = time.AsDouble();
            frame.Space = _strings.Get(d, space.Start, space.Length);
            frame.HasEmotion = true;
            frame.Emotion = _strings.Get(d, emotion.Start, emotion.Length);
            frame.Intensity = (float)intensity.AsDouble();
            frame.TimeTag = 0;
            return true;
        }

        // -- field access: missing -> missing_field, wrong type -> bad_field ------------------------

        private bool Get(byte[] d, int end, int field, out MsgPackToken t)
        {
            t = default(MsgPackToken);
            int at = _at[field];
            return at >= 0 && MsgPack.ReadToken(d, ref at, end, out t);
        }

        private bool Present(byte[] d, int end, int field, out MsgPackToken t)
        {
            return Get(d, end, field, out t) || Refuse(Reasons.MissingField);
        }

        private bool Field(byte[] d, int end, int field, MsgPackKind kind, out MsgPackToken t)
        {
            if (!Present(d, end, field, out t)) return false;
            return t.Kind == kind || Refuse(Reasons.BadField);
        }

        /// <summary>A float field: a sender may write a whole number as an int; it must be finite.</summary>
        private bool NumberField(byte[] d, int end, int field, out MsgPackToken t)
        {
            if (!Present(d, end, field, out t)) return false;
            return (t.IsNumber && Bytes.IsFinite(t.AsDouble())) || Refuse(Reasons.BadField);
        }

        /// <summary>The `count` items of the array at `at`, all of which must be strings; else null.</summary>
        private static string[] Strings(byte[] d, int end, int at, int count)
        {
            MsgPackToken t;
            MsgPack.ReadToken(d, ref at, end, out t); // the array header
            var names = new string[count];
            for (int i = 0; i < count; i++)
            {
                int itemAt = at;
                MsgPack.ReadToken(d, ref itemAt, end, out t);
                if (t.Kind != MsgPackKind.Str) return null;
                names[i] = System.Text.Encoding.UTF8.GetString(d, t.Start, t.Length);
                MsgPack.SkipValue(d, ref at, end);
            }
            return names;
        }

        private ZmqKind Fail(string reason)
        {
            Reason = reason;
            return ZmqKind.Invalid;
        }

        private bool Refuse(string reason)
        {
            Reason = reason;
            return false;
        }

        private static byte[][] Ascii(params string[] names)
        {
            var b = new byte[names.Length][];
            for (int i = 0; i < names.Length; i++) b[i] = System.Text.Encoding.ASCII.GetBytes(names[i]);
            return b;
        }
    }
}
