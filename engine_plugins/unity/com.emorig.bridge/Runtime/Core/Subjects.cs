using System;
using System.Collections.Generic;
using System.Threading;

namespace Emorig.Bridge.Core
{
    /// <summary>One speaker's stream: the latest frame, handed from the receiver thread to a reader
    /// thread without a lock.
    ///
    /// A triple buffer of FaceFrame objects: the receiver fills a frame of its own, then swaps it
    /// into the shared slot with Interlocked.Exchange and keeps whatever comes back; the reader swaps
    /// its frame for the shared one when that is fresh. Neither side ever waits or allocates, and the
    /// reader always gets the newest frame — frames it was too slow for are superseded (counted),
    /// which is what a face wants: the present, not a backlog.
    ///
    /// Latest() belongs to ONE reader thread (Unity's main thread); any number of components on that
    /// thread may call it.</summary>
    public sealed class Subject
    {
        public readonly string Name;

        private FaceFrame _shared = new FaceFrame();  // exchanged between the two threads
        private FaceFrame _front = new FaceFrame();   // the reader's
        private CurveLayout _layout;                  // the latest names/static, written by the receiver
        private long _published, _superseded;

        internal Subject(string name)
        {
            Name = name;
        }

        /// <summary>The latest names / static message of this subject (any thread), or null.</summary>
        public CurveLayout Layout { get { return Volatile.Read(ref _layout); } }

        /// <summary>Frames the receiver accepted for this subject.</summary>
        public long Published { get { return Interlocked.Read(ref _published); } }

        /// <summary>Frames replaced by a newer one before the reader took them.</summary>
        public long Superseded { get { return Interlocked.Read(ref _superseded); } }

        /// <summary>The newest frame (reader thread only), or null before the first. The object stays
        /// valid until this thread calls Latest() again; compare its Sequence to know if it is new.</summary>
        public FaceFrame Latest()
        {
            // Only the receiver puts fresh frames in the shared slot, so if it is fresh now, whatever
            // the exchange returns is fresh too (the receiver may have swapped in an even newer one).
            if (Volatile.Read(ref _shared).Fresh)
            {
                FaceFrame taken = Interlocked.Exchange(ref _shared, _front);
                taken.Fresh = false;
                _front = taken;
            }
            return _front.Sequence > 0 ? _front : null;
        }

        internal void SetLayout(CurveLayout layout)
        {
            Volatile.Write(ref _layout, layout);
        }

        /// <summary>Receiver thread: the Sequence of the next frame to publish.</summary>
        internal long NextSequence()
        {
            return Interlocked.Increment(ref _published);
        }

        /// <summary>Receiver thread: hands `filled` (its Sequence set) over and returns a frame it
        /// may reuse.</summary>
        internal FaceFrame Publish(FaceFrame filled)
        {
            filled.Fresh = true; // written before the exchange, which is a full fence
            FaceFrame back = Interlocked.Exchange(ref _shared, filled);
            if (back.Fresh) Interlocked.Increment(ref _superseded); // the reader never took it
            back.Fresh = false;
            return back;
        }
    }

    /// <summary>The subjects one receiver has seen. Added to by the receiver thread only; read from
    /// any thread (copy-on-write array, so reading needs no lock).</summary>
    public sealed class SubjectTable
    {
        /// <summary>At most this many subjects: junk on a port cannot grow memory without bound.</summary>
        public const int MaxSubjects = 64;

        private Subject[] _subjects = new Subject[0];

        public IReadOnlyList<Subject> All { get { return Volatile.Read(ref _subjects); } }

        /// <summary>The subject of that name, or for null/"" the first one seen; null if none yet.</summary>
        public Subject Find(string name)
        {
            Subject[] all = Volatile.Read(ref _subjects);
            if (string.IsNullOrEmpty(name)) return all.Length > 0 ? all[0] : null;
            foreach (Subject s in all)
                if (string.Equals(s.Name, name, StringComparison.Ordinal)) return s;
            return null;
        }

        /// <summary>Receiver thread only. Null when the table is full.</summary>
        internal Subject GetOrAdd(string name)
        {
            Subject[] all = _subjects;
            foreach (Subject s in all)
                if (string.Equals(s.Name, name, StringComparison.Ordinal)) return s;
            if (all.Length >= MaxSubjects) return null;
            var grown = new Subject[all.Length + 1];
            Array.Copy(all, grown, all.Length);
            grown[all.Length] = new Subject(name);
            Volatile.Write(ref _subjects, grown);
            return grown[all.Length];
        }
    }
}
