using System;
using System.Net;
using System.Net.Sockets;

namespace Emorig.Bridge.Core
{
    /// <summary>Listens for UDP datagrams from `emorig stream --sink osc://HOST:PORT` (compact
    /// mode) or `--sink livelinkface://HOST:PORT`, on one port. Start emorig and this in any order.</summary>
    public sealed class OscReceiver : Receiver
    {
        public readonly IPAddress Address;
        public readonly int Port;
        private Socket _socket;
        private readonly byte[] _buffer = new byte[65536]; // the largest UDP datagram

        /// <param name="port">The port emorig sends to.</param>
        /// <param name="address">Where to listen: 127.0.0.1 (this machine only, the default) or
        /// 0.0.0.0 / :: to accept datagrams from other machines.</param>
        public OscReceiver(int port, string address = "127.0.0.1")
        {
            Port = port;
            Address = IPAddress.Parse(string.IsNullOrEmpty(address) ? "127.0.0.1" : address);
        }

        /// <summary>The port actually bound (differs from Port when Port is 0, in tests).</summary>
        public int BoundPort { get; private set; }

        public override string Endpoint { get { return "udp " + Address + ":" + Port; } }

        protected override bool Open()
        {
            try
            {
                _socket = new Socket(Address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                // Mono turns SO_REUSEADDR on by default, and then a second receiver on the same port
                // binds "fine" and silently takes the datagrams. A port has one reader: say so.
                _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, false);
                // A MetaHuman names message is ~9 KB and a burst may come at once: room for many.
                _socket.ReceiveBufferSize = 1 << 20;
                _socket.Bind(new IPEndPoint(Address, Port));
                BoundPort = ((IPEndPoint)_socket.LocalEndPoint).Port;
                SetState(ReceiverState.Running);
                return true;
            }
            catch (Exception e)
            {
                SetError("cannot listen on " + Endpoint + ": " + e.Message);
                Close();
                return false;
            }
        }

        protected override void Run()
        {
            while (!Stopping)
            {
                int n;
                try
                {
                    n = _socket.Receive(_buffer, 0, _buffer.Length, SocketFlags.None);
                }
                catch (SocketException e)
                {
                    if (Stopping) return;
                    // Windows reports an earlier ICMP "port unreachable" on the next receive; harmless.
                    if (e.SocketErrorCode == SocketError.ConnectionReset || e.SocketErrorCode == SocketError.MessageSize) continue;
                    SetError("udp receive failed: " + e.Message);
                    if (WaitForStop(100)) return;
                    continue;
                }
                catch (ObjectDisposedException)
                {
                    return; // Stop closed the socket
                }
                Ingest.Datagram(_buffer, n);
            }
        }

        protected override void Close()
        {
            Socket s = _socket;
            if (s != null) s.Close();
        }
    }
}
