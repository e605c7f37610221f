using System;
using Emorig.Bridge.Core;
using UnityEngine;

namespace Emorig.Bridge
{
    /// <summary>Receives an emorig stream on a background thread: OSC compact (and Live Link Face)
    /// datagrams over UDP, or ZeroMQ + msgpack over TCP. EmorigFace components read their subject's
    /// latest frame from here each frame. One receiver per port; any number of faces per receiver.</summary>
    [AddComponentMenu("emorig/emorig Receiver")]
    [DisallowMultipleComponent]
    public sealed class EmorigReceiver : MonoBehaviour
    {
        public enum Transport
        {
            /// <summary>`emorig stream --sink osc://127.0.0.1:PORT` (or livelinkface://…), UDP.</summary>
            Osc,
            /// <summary>`emorig stream --sink zmq://127.0.0.1:PORT`, TCP; better across a network
            /// and for large rig spaces (MetaHuman).</summary>
            ZeroMQ,
        }

        [Tooltip("OSC: emorig stream --sink osc://HOST:PORT (UDP; Live Link Face packets work too). "
                 + "ZeroMQ: --sink zmq://HOST:PORT (TCP).")]
        public Transport transport = Transport.Osc;

        [Header("OSC (UDP)")]
        [Tooltip("The port emorig sends to: the PORT of --sink osc://HOST:PORT.")]
        public int oscPort = 9100;
        [Tooltip("127.0.0.1: only this machine may send. 0.0.0.0: any machine on the network "
                 + "(your firewall may ask).")]
        public string listenAddress = "127.0.0.1";

        [Header("ZeroMQ (TCP)")]
        [Tooltip("The machine running emorig (emorig publishes on 127.0.0.1 unless told otherwise).")]
        public string zmqHost = "127.0.0.1";
        [Tooltip("The PORT of --sink zmq://HOST:PORT.")]
        public int zmqPort = 5555;
        [Tooltip("Receive only this subject; empty receives every subject.")]
        public string zmqSubject = "";

        [Header("Diagnostics")]
        [Tooltip("Log network problems, newer protocol versions and dropped messages to the console.")]
        public bool logProblems = true;

        private Receiver _core;
        private string _loggedError, _loggedWarning;
        private long _loggedDrops;
        private float _nextDropLog;

        /// <summary>The running receiver (null while disabled): its State, Stats, Subjects.</summary>
        public Receiver Core { get { return _core; } }

        /// <summary>A subject by name ("" = the first to arrive), or null if none has arrived.</summary>
        public Subject FindSubject(string subject)
        {
            return _core == null ? null : _core.Subjects.Find(subject);
        }

        /// <summary>Stops and starts again with the current settings (the inspector's Restart).</summary>
        public void Restart()
        {
            StopReceiver();
            if (isActiveAndEnabled) StartReceiver();
        }

        private void OnEnable()
        {
            StartReceiver();
        }

        private void OnDisable()
        {
            StopReceiver();
        }

        private void StartReceiver()
        {
            _loggedError = _loggedWarning = null;
            _loggedDrops = 0;
            try
            {
                _core = transport == Transport.Osc
                    ? (Receiver)new OscReceiver(oscPort, listenAddress)
                    : new ZmqReceiver(zmqHost, zmqPort, zmqSubject);
            }
            catch (Exception e) // a listen address that is not an IP address
            {
                Debug.LogError("emorig: cannot start the receiver: " + e.Message, this);
                _core = null;
                return;
            }
            if (_core.Start()) return;
            Debug.LogError("emorig: " + _core.LastError, this);
            _loggedError = _core.LastError; // said once, as an error
        }

        private void StopReceiver()
        {
            if (_core == null) return;
            _core.Dispose();
            _core = null;
        }

        private void Update()
        {
            if (_core == null || !logProblems) return;
            string error = _core.LastError;
            if (error != null && error != _loggedError)
                Debug.LogWarning("emorig: " + error
                                 + (_core.State == Receiver.ReceiverState.Connecting ? " (retrying; start emorig stream if it is not running)" : ""), this);
            _loggedError = error;
            string warning = _core.LastWarning;
            if (warning != null && warning != _loggedWarning) Debug.LogWarning("emorig: " + warning, this);
            _loggedWarning = warning;
            // Frames before the first names message are dropped by design; everything else is news.
            long drops = _core.Stats.Dropped - _core.Stats.DroppedFor(Reasons.WaitingForNames);
            if (drops > _loggedDrops && Time.unscaledTime >= _nextDropLog)
            {
                Debug.LogWarning("emorig: dropped " + (drops - _loggedDrops) + " malformed or unusable messages on "
                                 + _core.Endpoint + " — " + _core.Stats.Summary(), this);
                _loggedDrops = drops;
                _nextDropLog = Time.unscaledTime + 5f; // at most one such line every 5 s
            }
        }
    }
}
