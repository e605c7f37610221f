using System;
using System.Text;
using System.Threading;

namespace Emorig.Bridge.Core
{
    /// <summary>Why a datagram or message was dropped. The decoder codes are the ones of emorig's
    /// reference reader (bridge/protocol.py) and of the golden vectors; the rest are the
    /// receiver's own.</summary>
    public static class Reasons
    {
        // Live Link Face
        public const string Truncated = "truncated";
        public const string BadVersion = "bad_version";
        public const string BadNameLength = "bad_name_length";
        public const string BadUtf8 = "bad_utf8";
        public const string BadSubFrame = "bad_sub_frame";
        public const string BadFrameRate = "bad_frame_rate";
        public const string BadCount = "bad_count";
        public const string TrailingBytes = "trailing_bytes";
        // OSC compact
        public const string BadOsc = "bad_osc";
        public const string UnknownAddress = "unknown_address";
        public const string BadArguments = "bad_arguments";
        public const string IncompleteFrame = "incomplete_frame";
        public const string MixedSubjects = "mixed_subjects";
        // ZeroMQ + msgpack
        public const string NotMsgpack = "not_msgpack";
        public const string NotAMap = "not_a_map";
        public const string MissingField = "missing_field";
        public const string BadField = "bad_field";
        public const string BadValuesLength = "bad_values_length";
        // shared
        public const string NonFiniteValue = "non_finite_value";
        public const string UnsupportedSchema = "unsupported_schema";
        // the receiver's: a frame that arrived before its subject's names/static message (normal
        // for up to a second after connecting), or one that does not fit the latest one
        public const string WaitingForNames = "waiting_for_names";
        public const string LayoutMismatch = "layout_mismatch";
        public const string BadMultipart = "bad_multipart"; // a ZeroMQ message that is not topic + payload
        public const string TooManySubjects = "too_many_subjects";

        /// <summary>Every code, in a fixed order (ReceiverStats counts by position).</summary>
        public static readonly string[] All =
        {
            Truncated, BadVersion, BadNameLength, BadUtf8, BadSubFrame, BadFrameRate, BadCount, TrailingBytes,
            BadOsc, UnknownAddress, BadArguments, IncompleteFrame, MixedSubjects,
            NotMsgpack, NotAMap, MissingField, BadField, BadValuesLength,
            NonFiniteValue, UnsupportedSchema,
            WaitingForNames, LayoutMismatch, BadMultipart, TooManySubjects,
        };

        public static int IndexOf(string reason)
        {
            for (int i = 0; i < All.Length; i++)
                if (string.Equals(All[i], reason, StringComparison.Ordinal)) return i;
            return -1;
        }
    }

    /// <summary>What a receiver has seen. Written by the receiver thread only, read from any thread.</summary>
    public sealed class ReceiverStats
    {
        private long _packets, _frames, _layouts, _ignored, _dropped;
        private readonly long[] _byReason = new long[Reasons.All.Length];

        /// <summary>Datagrams (OSC, Live Link Face) or ZeroMQ messages received.</summary>
        public long Packets { get { return Interlocked.Read(ref _packets); } }
        /// <summary>Frames accepted and handed to their subject.</summary>
        public long Frames { get { return Interlocked.Read(ref _frames); } }
        /// <summary>Names / static messages accepted.</summary>
        public long Layouts { get { return Interlocked.Read(ref _layouts); } }
        /// <summary>Well-formed messages of a kind this reader does not use (ignored on purpose).</summary>
        public long Ignored { get { return Interlocked.Read(ref _ignored); } }
        /// <summary>Everything dropped, all reasons together.</summary>
        public long Dropped { get { return Interlocked.Read(ref _dropped); } }

        public long DroppedFor(string reason)
        {
            int i = Reasons.IndexOf(reason);
            return i < 0 ? 0 : Interlocked.Read(ref _byReason[i]);
        }

        internal void CountPacket() { Interlocked.Increment(ref _packets); }
        internal void CountFrame() { Interlocked.Increment(ref _frames); }
        internal void CountLayout() { Interlocked.Increment(ref _layouts); }
        internal void CountIgnored() { Interlocked.Increment(ref _ignored); }

        internal void CountDrop(string reason)
        {
            Interlocked.Increment(ref _dropped);
            int i = Reasons.IndexOf(reason);
            if (i >= 0) Interlocked.Increment(ref _byReason[i]);
        }

        /// <summary>One line for a log or an inspector: "frames 1200, layouts 20, dropped 3 (bad_osc 2, waiting_for_names 1)".</summary>
        public string Summary()
        {
            var s = new StringBuilder();
            s.Append("packets ").Append(Packets).Append(", frames ").Append(Frames)
                .Append(", layouts ").Append(Layouts).Append(", ignored ").Append(Ignored)
                .Append(", dropped ").Append(Dropped);
            string sep = " (";
            for (int i = 0; i < _byReason.Length; i++)
            {
                long n = Interlocked.Read(ref _byReason[i]);
                if (n == 0) continue;
                s.Append(sep).Append(Reasons.All[i]).Append(' ').Append(n);
                sep = ", ";
            }
            if (sep == ", ") s.Append(')');
            return s.ToString();
        }
    }
}
