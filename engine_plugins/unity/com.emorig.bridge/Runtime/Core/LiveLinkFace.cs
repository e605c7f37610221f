namespace Emorig.Bridge.Core
{
    /// <summary>One Live Link Face packet (Apple ARKit face protocol, version 6).</summary>
    public sealed class LiveLinkFacePacket
    {
        public int Version;
        public string DeviceId;
        public string Subject;
        public int FrameNumber;
        public float SubFrame;
        public int FpsNumerator, FpsDenominator;
        /// <summary>The 61 values in KnownCurves.LiveLinkFace order; rotations in the sender's unit.</summary>
        public readonly float[] Values = new float[LiveLinkFaceDecoder.CurveCount];

        public double Fps { get { return (double)FpsNumerator / FpsDenominator; } }
        public double Time { get { return (FrameNumber + (double)SubFrame) / Fps; } }
    }

    /// <summary>Unreal's Live Link Face UDP packet (docs/protocol.md, "Live Link Face"), big-endian.
    /// emorig's UDP receiver accepts these too, so a stream sent with --sink livelinkface://… also
    /// drives a Unity face. As strict as the reference reader (it refuses trailing bytes, which
    /// Unreal ignores). One decoder per thread.</summary>
    public sealed class LiveLinkFaceDecoder
    {
        public const int PacketVersion = 6;
        public const int CurveCount = 61;
        public const int MaxNameBytes = 255;
        public const string Space = "livelinkface";

        private readonly StringCache _strings = new StringCache(16);

        public string Reason { get; private set; }

        public bool Decode(byte[] d, int length, LiveLinkFacePacket p)
        {
            Reason = null;
            int at = 0;
            if (length < 1) return Fail(Reasons.Truncated);
            p.Version = d[at++];
            if (p.Version != PacketVersion) return Fail(Reasons.BadVersion);
            if (!Name(d, ref at, length, out p.DeviceId) || !Name(d, ref at, length, out p.Subject)) return false;
            if (length - at < 17) return Fail(Reasons.Truncated);
            p.FrameNumber = Bytes.Int32BE(d, at);
            p.SubFrame = Bytes.FloatBE(d, at + 4);
            p.FpsNumerator = Bytes.Int32BE(d, at + 8);
            p.FpsDenominator = Bytes.Int32BE(d, at + 12);
            int count = d[at + 16];
            at += 17;
            if (!(p.SubFrame >= 0f && p.SubFrame < 1f)) return Fail(Reasons.BadSubFrame); // NaN fails too
            if (p.FpsNumerator <= 0 || p.FpsDenominator <= 0) return Fail(Reasons.BadFrameRate);
            if (count != CurveCount) return Fail(Reasons.BadCount);
            if (length - at < 4 * CurveCount) return Fail(Reasons.Truncated);
            bool finite = true;
            for (int i = 0; i < CurveCount; i++)
            {
                p.Values[i] = Bytes.FloatBE(d, at);
                finite &= Bytes.IsFinite(p.Values[i]);
                at += 4;
            }
            if (at != length) return Fail(Reasons.TrailingBytes);
            return finite || Fail(Reasons.NonFiniteValue);
        }

        /// <summary>A packet as a frame of the `livelinkface` space (no emotion).</summary>
        public static void ToFrame(LiveLinkFacePacket p, FaceFrame frame)
        {
            frame.Subject = p.Subject;
            frame.Number = p.FrameNumber;
            frame.Time = p.Time;
            frame.Space = Space;
            frame.SetValueCount(CurveCount);
            System.Array.Copy(p.Values, frame.Values, CurveCount);
            frame.HasEmotion = false;
            frame.Emotion = null;
            frame.Intensity = 0;
            System.Array.Clear(frame.EmotionProbs, 0, frame.EmotionProbs.Length);
            frame.TimeTag = 0;
        }

        private bool Name(byte[] d, ref int at, int length, out string name)
        {
            name = null;
            if (length - at < 4) return Fail(Reasons.Truncated);
            int n = Bytes.Int32BE(d, at);
            at += 4;
            if (n <= 0 || n > MaxNameBytes) return Fail(Reasons.BadNameLength);
            if (length - at < n) return Fail(Reasons.Truncated);
            if (!Bytes.IsValidUtf8(d, at, n)) return Fail(Reasons.BadUtf8);
            name = _strings.Get(d, at, n);
            at += n;
            return true;
        }

        private bool Fail(string reason)
        {
            Reason = reason;
            return false;
        }
    }
}
