using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Emorig.Bridge.Core
{
    /// <summary>Subscribes to `emorig stream --sink zmq://HOST:PORT` (a ZeroMQ PUB socket) over TCP,
    /// speaking ZMTP 3.0 itself (ZmtpConnection): no native libzmq, no NuGet package. Connects,
    /// and reconnects after any failure, until stopped, so emorig may start before or after this.</summary>
    public sealed class ZmqReceiver : Receiver
    {
        public readonly string Host;
        public readonly int Port;
        /// <summary>Only this subject ("" = all). Subscribed as a topic prefix, compared exactly.</summary>
        public readonly string SubjectFilter;

        private readonly byte[] _filter;
        private volatile Socket _socket;
        private byte[] _topic = new byte[256];
        private byte[] _payload = new byte[16384];

        public ZmqReceiver(string host, int port, string subjectFilter = "")
        {
            Host = string.IsNullOrEmpty(host) ? "127.0.0.1" : host;
            Port = port;
            SubjectFilter = subjectFilter ?? "";
            _filter = Encoding.UTF8.GetBytes(SubjectFilter);
        }

        public override string Endpoint { get { return "tcp://" + Host + ":" + Port; } }

        /// <summary>Connections made so far (1 after the first, more after reconnects).</summary>
        public int Connections { get; private set; }

        protected override bool Open()
        {
            SetState(ReceiverState.Connecting);
            return true;
        }

        protected override void Run()
        {
            int backoff = 100;
            while (!Stopping)
            {
                try
                {
                    Socket socket = Connect();
                    _socket = socket;
                    if (Stopping) return;
                    using (var stream = new NetworkStream(socket, false))
                    {
                        stream.ReadTimeout = 5000; // a peer that never finishes the handshake
                        var zmtp = new ZmtpConnection(stream);
                        zmtp.Handshake();
                        zmtp.Subscribe(_filter);
                        stream.ReadTimeout = System.Threading.Timeout.Infinite; // emorig may be quiet between takes
                        Connections++;
                        SetState(ReceiverState.Running);
                        SetError(null);
                        backoff = 100;
                        ReadMessages(zmtp);
                    }
                }
                catch (Exception e)
                {
                    if (Stopping) return;
                    if (e is SocketException || e is IOException || e is ObjectDisposedException)
                        SetError(Endpoint + ": " + e.Message);
                    else
                        throw;
                }
                finally
                {
                    Close();
                }
                SetState(ReceiverState.Connecting);
                if (WaitForStop(backoff)) return;
                backoff = Math.Min(backoff * 2, 2000);
            }
        }

        private Socket Connect()
        {
            // "localhost" may resolve to ::1 first while emorig binds 127.0.0.1: try every address.
            IPAddress[] addresses = Dns.GetHostAddresses(Host);
            SocketException last = null;
            foreach (IPAddress a in addresses)
            {
                var s = new Socket(a.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                _socket = s;
                try
                {
                    s.Connect(new IPEndPoint(a, Port));
                    return s;
                }
                catch (SocketException e)
                {
                    last = e;
                    s.Close();
                }
            }
            throw last ?? new SocketException((int)SocketError.HostNotFound);
        }

        private void ReadMessages(ZmtpConnection zmtp)
        {
            int part = 0, topicLength = 0, payloadLength = 0;
            while (!Stopping)
            {
                // Frame 0 goes to the topic buffer, every later one to the payload buffer; a message
                // of other than two frames is counted and dropped when it ends.
                bool more, command;
                if (part == 0) zmtp.ReadFrame(ref _topic, out topicLength, out more, out command);
                else zmtp.ReadFrame(ref _payload, out payloadLength, out more, out command);
                if (command) continue; // nothing for a subscriber after READY in ZMTP 3.0
                part++;
                if (more) continue;
                if (part == 2) Ingest.ZmqMessage(_topic, topicLength, _payload, payloadLength, _filter);
                else Ingest.BadMultipart();
                part = 0;
            }
        }

        protected override void Close()
        {
            Socket s = _socket;
            if (s != null) s.Close();
        }
    }
}
