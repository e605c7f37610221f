using System;

namespace Emorig.Bridge.Core
{
    /// <summary>From bytes to subjects, for one receiver thread: decodes a datagram or a ZeroMQ
    /// message, keeps each subject's latest names/static, checks frames against it, and publishes
    /// them. Never throws on input; everything refused is counted in Stats by reason. The sockets
    /// live in OscReceiver and ZmqReceiver; tests feed this class directly.</summary>
    public sealed class Ingest
    {
        public readonly SubjectTable Subjects;
        public readonly ReceiverStats Stats;

        /// <summary>Called on the receiver thread with every accepted frame, before the reader can
        /// see it — for tools that want every frame rather than the latest (a recorder at full rate,
        /// a test). Copy what you need and return quickly; the frame is reused.</summary>
        public Action<FaceFrame> FrameReceived;

        /// <summary>Called once per distinct problem the user should hear about (today: a newer
        /// schema version than this plugin reads). Receiver thread.</summary>
        public Action<string> Warning;

        private readonly OscCompactDecoder _osc = new OscCompactDecoder();
        private readonly ZmqDecoder _zmq = new ZmqDecoder();
        private readonly LiveLinkFaceDecoder _llf = new LiveLinkFaceDecoder();
        private readonly LiveLinkFacePacket _packet = new LiveLinkFacePacket();
        private FaceFrame _scratch = new FaceFrame();
        private long _warnedSchema = SchemaNone;
        private const long SchemaNone = long.MinValue;

        public Ingest(SubjectTable subjects = null, ReceiverStats stats = null)
        {
            Subjects = subjects ?? new SubjectTable();
            Stats = stats ?? new ReceiverStats();
        }

        /// <summary>A UDP datagram: emorig's compact OSC (starts with '/' or '#') or else a Live Link
        /// Face packet (starts with its version byte, 6). True if it was used.</summary>
        public bool Datagram(byte[] data, int length)
        {
            Stats.CountPacket();
            if (length > 0 && data[0] != (byte)'/' && data[0] != (byte)'#')
            {
                if (!_llf.Decode(data, length, _packet)) return Drop(_llf.Reason);
                LiveLinkFaceDecoder.ToFrame(_packet, _scratch);
                // The layout is fixed but for the frame rate; make one only when that changes.
                Subject s = Subjects.GetOrAdd(_packet.Subject);
                if (s == null) return Drop(Reasons.TooManySubjects);
                CurveLayout current = s.Layout;
                if (current == null || current.Space != LiveLinkFaceDecoder.Space || current.Fps != _packet.Fps)
                    s.SetLayout(new CurveLayout(_packet.Subject, LiveLinkFaceDecoder.Space, _packet.Fps, KnownCurves.LiveLinkFace, Emotions.Labels));
                return AcceptFrame();
            }
            CurveLayout names;
            switch (_osc.Decode(data, length, _scratch, out names))
            {
                case OscCompactKind.Names:
                    return AcceptLayout(names);
                case OscCompactKind.Frame:
                    return AcceptFrame();
                default:
                    if (_osc.Reason == Reasons.UnsupportedSchema) WarnSchema(_osc.UnsupportedSchema);
                    return Drop(_osc.Reason);
            }
        }

        /// <summary>A ZeroMQ message: topic frame and payload frame. With a non-empty
        /// `subjectFilter` only that exact topic is used (ZeroMQ subscriptions match prefixes).</summary>
        public bool ZmqMessage(byte[] topic, int topicLength, byte[] payload, int payloadLength, byte[] subjectFilter = null)
        {
            Stats.CountPacket();
            if (subjectFilter != null && subjectFilter.Length > 0 && !Bytes.Equal(topic, 0, topicLength, subjectFilter))
            {
                Stats.CountIgnored();
                return false;
            }
            CurveLayout layout;
            switch (_zmq.Decode(payload, 0, payloadLength, _scratch, out layout))
            {
                case ZmqKind.Static:
                    return AcceptLayout(layout);
                case ZmqKind.Frame:
                    return AcceptFrame();
                case ZmqKind.Unknown:
                    Stats.CountIgnored(); // a message type a newer emorig added
                    return false;
                default:
                    if (_zmq.Reason == Reasons.UnsupportedSchema) WarnSchema(_zmq.UnsupportedSchema);
                    return Drop(_zmq.Reason);
            }
        }

        /// <summary>A multipart ZeroMQ message that was not exactly topic + payload.</summary>
        public void BadMultipart()
        {
            Stats.CountPacket();
            Drop(Reasons.BadMultipart);
        }

        private bool AcceptLayout(CurveLayout layout)
        {
            Subject s = Subjects.GetOrAdd(layout.Subject);
            if (s == null) return Drop(Reasons.TooManySubjects);
            // Announcements repeat every second; keep the old object when nothing changed, so a
            // reader comparing layouts by reference rebuilds its mapping only on a real change.
            if (!layout.SameAs(s.Layout)) s.SetLayout(layout);
            Stats.CountLayout();
            return true;
        }

        private bool AcceptFrame()
        {
            FaceFrame f = _scratch;
            Subject s = Subjects.GetOrAdd(f.Subject);
            if (s == null) return Drop(Reasons.TooManySubjects);
            CurveLayout layout = s.Layout;
            if (layout == null) return Drop(Reasons.WaitingForNames);
            if (!string.Equals(f.Space, layout.Space, StringComparison.Ordinal) || f.ValueCount != layout.CurveCount)
                return Drop(Reasons.LayoutMismatch); // the space changed: wait for its names (at most a second)
            f.Layout = layout;
            f.Sequence = s.NextSequence();
            Stats.CountFrame();
            Action<FaceFrame> hook = FrameReceived;
            if (hook != null)
            {
                // A bug in a hook must not stop the receiver thread.
                try { hook(f); }
                catch (Exception e) { Warn("FrameReceived handler failed: " + e.Message); }
            }
            _scratch = s.Publish(f);
            return true;
        }

        private bool Drop(string reason)
        {
            Stats.CountDrop(reason);
            return false;
        }

        private void WarnSchema(long schema)
        {
            if (schema == _warnedSchema) return;
            _warnedSchema = schema;
            Warn("emorig stream uses schema " + schema + "; this plugin reads " + ZmqDecoder.SchemaVersion
                 + " — update the plugin (com.emorig.bridge)");
        }

        private void Warn(string message)
        {
            Action<string> warn = Warning;
            if (warn != null) warn(message);
        }
    }
}
