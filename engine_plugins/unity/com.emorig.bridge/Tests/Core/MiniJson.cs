using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>Just enough JSON for the golden vectors' .json files (no JSON library is common to
    /// Unity and Debian's mono). Objects are Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;,
    /// numbers long, ulong or double (as written: no fraction or exponent means an integer).</summary>
    public static class MiniJson
    {
        public static object Parse(string text)
        {
            int at = 0;
            object v = Value(text, ref at);
            Space(text, ref at);
            if (at != text.Length) throw new FormatException("JSON: trailing text at " + at);
            return v;
        }

        private static object Value(string s, ref int at)
        {
            Space(s, ref at);
            if (at >= s.Length) throw new FormatException("JSON: unexpected end");
            char c = s[at];
            if (c == '{')
            {
                var o = new Dictionary<string, object>();
                at++;
                Space(s, ref at);
                if (s[at] == '}') { at++; return o; }
                while (true)
                {
                    Space(s, ref at);
                    string key = String(s, ref at);
                    Space(s, ref at);
                    Expect(s, ref at, ':');
                    o[key] = Value(s, ref at);
                    Space(s, ref at);
                    if (s[at] == ',') { at++; continue; }
                    Expect(s, ref at, '}');
                    return o;
                }
            }
            if (c == '[')
            {
                var a = new List<object>();
                at++;
                Space(s, ref at);
                if (s[at] == ']') { at++; return a; }
                while (true)
                {
                    a.Add(Value(s, ref at));
                    Space(s, ref at);
                    if (s[at] == ',') { at++; continue; }
                    Expect(s, ref at, ']');
                    return a;
                }
            }
            if (c == '"') return String(s, ref at);
            if (s.Substring(at).StartsWith("true", StringComparison.Ordinal)) { at += 4; return true; }
            if (s.Substring(at).StartsWith("false", StringComparison.Ordinal)) { at += 5; return false; }
            if (s.Substring(at).StartsWith("null", StringComparison.Ordinal)) { at += 4; return null; }
            int start = at;
            while (at < s.Length && "+-0123456789.eE".IndexOf(s[at]) >= 0) at++;
            string number = s.Substring(start, at - start);
            if (number.Length == 0) throw new FormatException("JSON: unexpected '" + c + "' at " + start);
            if (number.IndexOfAny(new[] { '.', 'e', 'E' }) < 0)
            {
                long l;
                if (long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                return ulong.Parse(number, CultureInfo.InvariantCulture);
            }
            return double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        private static string String(string s, ref int at)
        {
            Expect(s, ref at, '"');
            var b = new StringBuilder();
            while (s[at] != '"')
            {
                char c = s[at++];
                if (c != '\\') { b.Append(c); continue; }
                char e = s[at++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u': b.Append((char)Convert.ToInt32(s.Substring(at, 4), 16)); at += 4; break;
                    default: b.Append(e); break; // \" \\ \/
                }
            }
            at++;
            return b.ToString();
        }

        private static void Space(string s, ref int at)
        {
            while (at < s.Length && char.IsWhiteSpace(s[at])) at++;
        }

        private static void Expect(string s, ref int at, char c)
        {
            if (at >= s.Length || s[at] != c) throw new FormatException("JSON: expected '" + c + "' at " + at);
            at++;
        }

        // -- conveniences for the tests --------------------------------------------------------

        public static double Double(object v)
        {
            if (v is long) return (long)v;
            if (v is ulong) return (ulong)v;
            return (double)v;
        }

        public static long Long(object v)
        {
            return (long)v;
        }

        public static List<object> List(object v)
        {
            return (List<object>)v;
        }

        public static Dictionary<string, object> Object(object v)
        {
            return (Dictionary<string, object>)v;
        }
    }
}
