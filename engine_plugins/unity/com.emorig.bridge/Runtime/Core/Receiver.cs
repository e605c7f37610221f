using System;
using System.Threading;

namespace Emorig.Bridge.Core
{
    /// <summary>A background thread that reads emorig frames from the network into a SubjectTable.
    /// Start it, read Subjects.Find(name).Latest() from one thread (Unity's main thread), Dispose
    /// it. Network trouble never throws out of here: it shows in State, LastError and Stats.</summary>
    public abstract class Receiver : IDisposable
    {
        public enum ReceiverState
        {
            Stopped,
            /// <summary>ZeroMQ: connecting or reconnecting (emorig not started yet is normal).</summary>
            Connecting,
            /// <summary>Bound (OSC) or connected and subscribed (ZeroMQ).</summary>
            Running,
            /// <summary>Could not start at all, e.g. the UDP port is taken; see LastError.</summary>
            Failed,
        }

        protected readonly Ingest Ingest;
        private Thread _thread;
        private volatile bool _stopping;
        private volatile ReceiverState _state = ReceiverState.Stopped;
        private volatile string _lastError;
        private readonly ManualResetEvent _stopped = new ManualResetEvent(false);

        protected Receiver()
        {
            Ingest = new Ingest();
            Ingest.Warning = w => LastWarning = w;
        }

        public SubjectTable Subjects { get { return Ingest.Subjects; } }
        public ReceiverStats Stats { get { return Ingest.Stats; } }
        public ReceiverState State { get { return _state; } }
        /// <summary>The latest network problem, for a log or an inspector; null if none.</summary>
        public string LastError { get { return _lastError; } }
        /// <summary>The latest thing the user must act on (a newer schema); null if none.</summary>
        public volatile string LastWarning;
        /// <summary>Where this receiver listens or connects, for people: "udp 127.0.0.1:9100".</summary>
        public abstract string Endpoint { get; }

        /// <summary>See Ingest.FrameReceived: every accepted frame, on the receiver thread.</summary>
        public Action<FaceFrame> FrameReceived
        {
            get { return Ingest.FrameReceived; }
            set { Ingest.FrameReceived = value; }
        }

        protected bool Stopping { get { return _stopping; } }

        /// <summary>Starts the thread. False (and LastError set) if it cannot start, e.g. the port is
        /// in use; then nothing runs.</summary>
        public bool Start()
        {
            if (_thread != null) return _state != ReceiverState.Failed;
            _stopping = false;
            _stopped.Reset();
            if (!Open())
            {
                _state = ReceiverState.Failed;
                return false;
            }
            _thread = new Thread(RunGuarded) { IsBackground = true, Name = "emorig " + Endpoint };
            _thread.Start();
            return true;
        }

        /// <summary>Stops the thread and closes the socket; waits at most a second for it.</summary>
        public void Stop()
        {
            if (_thread == null) return;
            _stopping = true;
            _stopped.Set();
            Close(); // unblocks a blocking receive
            _thread.Join(1000);
            _thread = null;
            _state = ReceiverState.Stopped;
        }

        public void Dispose()
        {
            Stop();
        }

        /// <summary>Caller's thread, in Start: bind or prepare, false with SetError on failure.</summary>
        protected abstract bool Open();

        /// <summary>The thread: receive until Stopping.</summary>
        protected abstract void Run();

        /// <summary>Any thread: close sockets so a blocked Run returns.</summary>
        protected abstract void Close();

        protected void SetState(ReceiverState state)
        {
            if (!_stopping) _state = state;
        }

        protected void SetError(string error)
        {
            _lastError = error;
        }

        /// <summary>Sleeps up to `ms`, returning early (true) when Stop was called.</summary>
        protected bool WaitForStop(int ms)
        {
            return _stopped.WaitOne(ms);
        }

        private void RunGuarded()
        {
            try
            {
                Run();
            }
            catch (Exception e)
            {
                // Decoders never throw on input; this is a bug or a platform surprise. Say so.
                if (!_stopping)
                {
                    SetError("receiver stopped: " + e.GetType().Name + ": " + e.Message);
                    _state = ReceiverState.Failed;
                }
            }
        }
    }
}
