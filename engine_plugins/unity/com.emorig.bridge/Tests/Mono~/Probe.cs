// A console program for tests/test_unity_core.py: runs the core's receivers and name matching
// against emorig's Python side (its real sinks, a pyzmq PUB socket, retarget/names.py) and prints
// what it saw as JSON lines. Lives in a folder ending in "~", which Unity does not import.
//
//   mono probe.exe udp PORT COUNT SECONDS            listen; print every frame, then a summary
//   mono probe.exe zmq HOST PORT SUBJECT COUNT SECONDS
//   mono probe.exe names CASES.json                  answer Find/Closest for each case
//   mono probe.exe decode < LINES                    "FORMAT HEX" in, one canonical line out each
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using Emorig.Bridge.Core;
using Emorig.Bridge.Core.Tests;

public static class Probe
{
    public static int Main(string[] args)
    {
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        switch (args[0])
        {
            case "udp":
                return Listen(new OscReceiver(int.Parse(args[1])), int.Parse(args[2]), double.Parse(args[3]));
            case "zmq":
                return Listen(new ZmqReceiver(args[1], int.Parse(args[2]), args[3]), int.Parse(args[4]), double.Parse(args[5]));
            case "names":
                return Names(args[1]);
            case "decode":
                return Decode();
        }
        Console.Error.WriteLine("unknown mode " + args[0]);
        return 2;
    }

    private static int Listen(Receiver receiver, int count, double seconds)
    {
        var lines = new ConcurrentQueue<string>();
        int frames = 0;
        receiver.FrameReceived = f =>
        {
            lines.Enqueue(FrameJson(f));
            Interlocked.Increment(ref frames);
        };
        if (!receiver.Start())
        {
            Console.WriteLine(Obj("error", Str(receiver.LastError)));
            return 1;
        }
        Console.WriteLine(Obj("ready", Str(receiver.Endpoint)));
        Console.Out.Flush();
        var clock = Stopwatch.StartNew();
        long lastSeen = 0, latestReads = 0;
        while (Volatile.Read(ref frames) < count && clock.Elapsed.TotalSeconds < seconds)
        {
            string line;
            while (lines.TryDequeue(out line)) Console.WriteLine(line);
            // Read the latest frames as Unity's main thread would, to exercise the hand-over too.
            foreach (Subject s in receiver.Subjects.All)
            {
                FaceFrame f = s.Latest();
                if (f != null && f.Sequence != lastSeen)
                {
                    lastSeen = f.Sequence;
                    latestReads++;
                }
            }
            Thread.Sleep(1);
        }
        receiver.Stop();
        string rest;
        while (lines.TryDequeue(out rest)) Console.WriteLine(rest);
        var dropped = new List<string>();
        foreach (string reason in Reasons.All)
        {
            long n = receiver.Stats.DroppedFor(reason);
            if (n > 0) dropped.Add(Str(reason) + ":" + n);
        }
        var subjects = new List<string>();
        foreach (Subject s in receiver.Subjects.All)
        {
            CurveLayout l = s.Layout;
            subjects.Add(Str(s.Name) + ":" + (l == null ? "null" : Obj(
                "space", Str(l.Space), "fps", l.Fps.ToString("R"), "curves", Strs(l.Curves), "emotions", Strs(l.Emotions),
                "published", s.Published.ToString(), "superseded", s.Superseded.ToString())));
        }
        var zmq = receiver as ZmqReceiver;
        Console.WriteLine(Obj(
            "summary", Str(receiver.Stats.Summary()),
            "packets", receiver.Stats.Packets.ToString(), "frames", receiver.Stats.Frames.ToString(),
            "layouts", receiver.Stats.Layouts.ToString(), "ignored", receiver.Stats.Ignored.ToString(),
            "dropped", "{" + string.Join(",", dropped.ToArray()) + "}",
            "subjects", "{" + string.Join(",", subjects.ToArray()) + "}",
            "latest_reads", latestReads.ToString(), "connections", zmq == null ? "null" : zmq.Connections.ToString(),
            "warning", Str(receiver.LastWarning), "error", Str(receiver.LastError)));
        return 0;
    }

    private static string FrameJson(FaceFrame f)
    {
        var values = new string[f.ValueCount];
        for (int i = 0; i < f.ValueCount; i++) values[i] = f.Values[i].ToString("R");
        var probs = new string[Emotions.Count];
        for (int i = 0; i < probs.Length; i++) probs[i] = f.EmotionProbs[i].ToString("R");
        return Obj("subject", Str(f.Subject), "number", f.Number.ToString(), "time", f.Time.ToString("R"),
            "space", Str(f.Space), "values", "[" + string.Join(",", values) + "]",
            "emotion", f.HasEmotion ? Str(f.Emotion) : "null", "intensity", f.Intensity.ToString("R"),
            "emotion_probs", f.HasEmotion ? "[" + string.Join(",", probs) + "]" : "null",
            "timetag", f.TimeTag.ToString(), "sequence", f.Sequence.ToString(), "curves", f.Layout.CurveCount.ToString());
    }

    /// <summary>{"spaces": {NAME: {"curves": [...], "prefix": "..."}}, "queries": [[SPACE, NAME, CLOSEST?], ...]}
    /// -> one line per query: [index or -1, [closest names, if asked for]].</summary>
    private static int Names(string path)
    {
        var doc = MiniJson.Object(MiniJson.Parse(File.ReadAllText(path, Encoding.UTF8)));
        var indices = new Dictionary<string, NameIndex>();
        foreach (var kv in MiniJson.Object(doc["spaces"]))
        {
            var space = MiniJson.Object(kv.Value);
            var curves = new List<string>();
            foreach (object c in MiniJson.List(space["curves"])) curves.Add((string)c);
            indices[kv.Key] = new NameIndex(curves, (string)space["prefix"]);
        }
        var output = new StringBuilder();
        foreach (object q in MiniJson.List(doc["queries"]))
        {
            var pair = MiniJson.List(q);
            NameIndex index = indices[(string)pair[0]];
            string name = (string)pair[1];
            bool closest = (bool)pair[2];
            output.Append("[").Append(index.Find(name)).Append(",").Append(Strs(closest ? index.Closest(name) : new List<string>())).Append("]\n");
        }
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        stdout.Write(output.ToString());
        stdout.Flush();
        return 0;
    }

    // -- decode: the same canonical lines tests/test_unity_core.py makes from bridge/protocol.py --

    private static int Decode()
    {
        var osc = new OscCompactDecoder();
        var zmq = new ZmqDecoder();
        var llf = new LiveLinkFaceDecoder();
        var packet = new LiveLinkFacePacket();
        var frame = new FaceFrame();
        var output = new StringBuilder();
        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            int space = line.IndexOf(' ');
            string format = line.Substring(0, space);
            byte[] data = Unhex(line.Substring(space + 1));
            CurveLayout layout;
            switch (format)
            {
                case "llf":
                    if (!llf.Decode(data, data.Length, packet)) { output.Append("err ").Append(llf.Reason).Append('\n'); continue; }
                    output.Append("ok llf ").Append(Hex(packet.DeviceId)).Append(' ').Append(Hex(packet.Subject)).Append(' ')
                        .Append(packet.FrameNumber).Append(' ').Append(F32(packet.SubFrame)).Append(' ').Append(packet.FpsNumerator)
                        .Append(' ').Append(packet.FpsDenominator).Append(' ').Append(F32s(packet.Values, packet.Values.Length)).Append('\n');
                    break;
                case "compact":
                    switch (osc.Decode(data, data.Length, frame, out layout))
                    {
                        case OscCompactKind.Names:
                            output.Append("ok names ").Append(Hex(layout.Subject)).Append(' ').Append(layout.Schema).Append(' ')
                                .Append(Hex(layout.Space)).Append(' ').Append(F32((float)layout.Fps)).Append(' ').Append(Hexes(layout.Curves)).Append('\n');
                            break;
                        case OscCompactKind.Frame:
                            output.Append("ok frame ").Append(frame.TimeTag).Append(' ').Append(Hex(frame.Subject)).Append(' ')
                                .Append(frame.Number).Append(' ').Append(F64(frame.Time)).Append(' ').Append(Hex(frame.Space)).Append(' ')
                                .Append(F32s(frame.Values, frame.ValueCount));
                            if (frame.HasEmotion)
                                output.Append(' ').Append(Hex(frame.Emotion)).Append(' ').Append(F32(frame.Intensity)).Append(' ')
                                    .Append(F32s(frame.EmotionProbs, Emotions.Count));
                            else
                                output.Append(" - - -");
                            output.Append('\n');
                            break;
                        default:
                            output.Append("err ").Append(osc.Reason).Append('\n');
                            break;
                    }
                    break;
                default:
                    switch (zmq.Decode(data, 0, data.Length, frame, out layout))
                    {
                        case ZmqKind.Static:
                            output.Append("ok static ").Append(Hex(layout.Subject)).Append(' ').Append(Hex(layout.Space)).Append(' ')
                                .Append(F64(layout.Fps)).Append(' ').Append(Hexes(layout.Curves)).Append(' ').Append(Hexes(layout.Emotions)).Append('\n');
                            break;
                        case ZmqKind.Frame:
                            // The plugin keeps emotion probabilities and intensity as float32.
                            output.Append("ok zframe ").Append(Hex(frame.Subject)).Append(' ').Append(frame.Number).Append(' ')
                                .Append(F64(frame.Time)).Append(' ').Append(Hex(frame.Space)).Append(' ').Append(F32s(frame.Values, frame.ValueCount))
                                .Append(' ').Append(Hex(frame.Emotion)).Append(' ').Append(F32s(frame.EmotionProbs, Emotions.Count))
                                .Append(' ').Append(F32(frame.Intensity)).Append('\n');
                            break;
                        case ZmqKind.Unknown:
                            output.Append("ok other ").Append(Hex(zmq.UnknownType)).Append(" 1\n");
                            break;
                        default:
                            output.Append("err ").Append(zmq.Reason).Append('\n');
                            break;
                    }
                    break;
            }
        }
        Console.Out.Write(output.ToString());
        return 0;
    }

    private static byte[] Unhex(string hex)
    {
        var b = new byte[hex.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
        return b;
    }

    private static string Hex(byte[] b)
    {
        var s = new StringBuilder(2 * b.Length);
        foreach (byte x in b) s.Append(x.ToString("x2"));
        return s.ToString();
    }

    private static string Hex(string text)
    {
        return Hex(Encoding.UTF8.GetBytes(text));
    }

    private static string Hexes(IEnumerable<string> texts)
    {
        var parts = new List<string>();
        foreach (string t in texts) parts.Add(Hex(t));
        return "[" + string.Join(",", parts.ToArray()) + "]";
    }

    private static string F32(float x)
    {
        byte[] b = BitConverter.GetBytes(x);
        if (BitConverter.IsLittleEndian) Array.Reverse(b); // big-endian, as Python's struct.pack(">f")
        return Hex(b);
    }

    private static string F64(double x)
    {
        byte[] b = BitConverter.GetBytes(x);
        if (BitConverter.IsLittleEndian) Array.Reverse(b);
        return Hex(b);
    }

    private static string F32s(float[] values, int count)
    {
        var parts = new string[count];
        for (int i = 0; i < count; i++) parts[i] = F32(values[i]);
        return "[" + string.Join(",", parts) + "]";
    }

    private static string Obj(params string[] kv)
    {
        var b = new StringBuilder("{");
        for (int i = 0; i < kv.Length; i += 2)
        {
            if (i > 0) b.Append(',');
            b.Append(Str(kv[i])).Append(':').Append(kv[i + 1]);
        }
        return b.Append('}').ToString();
    }

    private static string Strs(IEnumerable<string> items)
    {
        var parts = new List<string>();
        foreach (string s in items) parts.Add(Str(s));
        return "[" + string.Join(",", parts.ToArray()) + "]";
    }

    /// <summary>A JSON string, non-ASCII escaped so the output is ASCII whatever the console encoding.</summary>
    private static string Str(string s)
    {
        if (s == null) return "null";
        var b = new StringBuilder("\"");
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') b.Append('\\').Append(c);
            else if (c < 0x20 || c > 0x7e) b.Append("\\u").Append(((int)c).ToString("x4"));
            else b.Append(c);
        }
        return b.Append('"').ToString();
    }
}
