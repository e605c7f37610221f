using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>One golden vector of tests/vectors/: the bytes and what the reference says of them.</summary>
    public sealed class Vector
    {
        public string Name;
        public byte[] Bytes;
        public Dictionary<string, object> Json;

        public string Format { get { return (string)Json["format"]; } }
        public bool Valid { get { return (bool)Json["valid"]; } }
        public string Reason { get { return Valid ? null : (string)Json["reason"]; } }
        public Dictionary<string, object> Decoded { get { return MiniJson.Object(Json["decoded"]); } }

        public override string ToString() { return Name; }
    }

    /// <summary>Finds emorig's golden vectors: $EMORIG_VECTORS, else tests/vectors/ in the checkout
    /// this package sits in (found from this source file's path, which works under mono and for a
    /// package Unity loads from disk). Tests that need them are ignored when neither exists, e.g.
    /// for a package installed from a git URL.</summary>
    public static class Vectors
    {
        private static List<Vector> _all;

        public static string Directory(bool required = true, [CallerFilePath] string here = "")
        {
            string env = Environment.GetEnvironmentVariable("EMORIG_VECTORS");
            if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "README.md"))) return env;
            string dir = string.IsNullOrEmpty(here) ? null : Path.GetDirectoryName(here);
            while (!string.IsNullOrEmpty(dir))
            {
                string candidate = Path.Combine(Path.Combine(dir, "tests"), "vectors");
                if (File.Exists(Path.Combine(candidate, "README.md"))) return candidate;
                dir = Path.GetDirectoryName(dir);
            }
            if (required) Assert.Ignore("emorig's golden vectors (tests/vectors) not found; set EMORIG_VECTORS");
            return null;
        }

        public static List<Vector> All()
        {
            if (_all != null) return _all;
            string dir = Directory();
            var list = new List<Vector>();
            string[] files = System.IO.Directory.GetFiles(dir, "*.bin");
            Array.Sort(files, StringComparer.Ordinal);
            foreach (string bin in files)
            {
                string json = Path.ChangeExtension(bin, ".json");
                list.Add(new Vector
                {
                    Name = Path.GetFileNameWithoutExtension(bin),
                    Bytes = File.ReadAllBytes(bin),
                    Json = MiniJson.Object(MiniJson.Parse(File.ReadAllText(json))),
                });
            }
            Assert.That(list.Count, Is.GreaterThan(20), "expected the golden vectors in " + dir);
            return _all = list;
        }

        public static List<Vector> OfFormat(params string[] formats)
        {
            var result = new List<Vector>();
            foreach (Vector v in All())
                if (Array.IndexOf(formats, v.Format) >= 0) result.Add(v);
            return result;
        }
    }
}
