using System;
using System.Collections.Generic;
using System.Text;

namespace Emorig.Bridge.Core
{
    /// <summary>Forgiving curve-name matching, the rules of emorig's retarget/names.py.
    ///
    /// Real meshes spell the same shape many ways: Apple's camelCase (`eyeBlinkLeft`), Live Link's
    /// PascalCase (`EyeBlinkLeft`), Unity's ARKit keys (`eyeBlink_L`), FBX/Maya/Blender node
    /// prefixes (`blendShape1.jawOpen`, `Face.jawOpen`, `ns:jawOpen`), MetaHuman curves with or
    /// without `CTRL_expressions_`, any case, with or without separators. A NameIndex maps every
    /// such spelling of a list of canonical names back to its position, and refuses a spelling
    /// that two names could claim.</summary>
    public sealed class NameIndex
    {
        /// <summary>The prefix MetaHuman curve names may be met without.</summary>
        public const string MetaHumanPrefix = "CTRL_expressions_";

        private readonly string[] _names;
        private readonly Dictionary<string, int> _table = new Dictionary<string, int>(StringComparer.Ordinal);

        /// <param name="names">The canonical names (a stream's curves), in order.</param>
        /// <param name="optionalPrefix">A prefix the names may be written without (see OptionalPrefixFor).</param>
        public NameIndex(IList<string> names, string optionalPrefix = "")
        {
            _names = new string[names.Count];
            names.CopyTo(_names, 0);
            var clashes = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < _names.Length; i++)
            {
                foreach (string k in Spellings(_names[i], optionalPrefix))
                {
                    int j;
                    if (_table.TryGetValue(k, out j) && j != i) clashes.Add(k);
                    _table[k] = i;
                }
            }
            // An alias two curves could claim is ambiguous; only exact keys survive it.
            foreach (string k in clashes) _table.Remove(k);
            for (int i = 0; i < _names.Length; i++) _table[Key(_names[i])] = i;
        }

        /// <summary>The optional prefix of a rig space's names: MetaHuman spaces' curves may be
        /// written without `CTRL_expressions_`.</summary>
        public static string OptionalPrefixFor(string space)
        {
            return space != null && space.StartsWith("metahuman", StringComparison.Ordinal) ? MetaHumanPrefix : "";
        }

        /// <summary>An index over a stream's curves, with its space's optional prefix.</summary>
        public static NameIndex ForLayout(CurveLayout layout)
        {
            return new NameIndex(new List<string>(layout.Curves), OptionalPrefixFor(layout.Space));
        }

        public IReadOnlyList<string> Names { get { return _names; } }

        /// <summary>The position of the name `name` stands for, or -1.</summary>
        public int Find(string name)
        {
            int i;
            return name != null && _table.TryGetValue(Key(name), out i) ? i : -1;
        }

        /// <summary>Up to n known names that look like `name` (difflib's get_close_matches with
        /// cutoff 0.5 on the keys, as the reference does), best first: for "did you mean …".</summary>
        public List<string> Closest(string name, int n = 3)
        {
            string word = Key(name ?? "");
            var keys = new List<string>();
            var canonical = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string c in _names)
            {
                string k = Key(c);
                if (!canonical.ContainsKey(k)) keys.Add(k);
                canonical[k] = c; // as in a Python dict: the first key's position, the last value
            }
            var scored = new List<KeyValuePair<double, string>>();
            foreach (string k in keys)
            {
                double r = SequenceMatcher.Ratio(k, word);
                if (r >= 0.5) scored.Add(new KeyValuePair<double, string>(r, k));
            }
            // heapq.nlargest on (ratio, key) tuples: ratio first, then the key, both descending.
            scored.Sort((a, b) => a.Key != b.Key ? b.Key.CompareTo(a.Key) : string.CompareOrdinal(b.Value, a.Value));
            var result = new List<string>();
            for (int i = 0; i < scored.Count && i < n; i++) result.Add(canonical[scored[i].Value]);
            return result;
        }

        // -- the rules -------------------------------------------------------------------------

        /// <summary>Drops a node or namespace prefix: `blendShape1.jawOpen` -> `jawOpen`
        /// (everything up to the last of . : | / — on the first line, like Python's `^.*[.:|/]`).</summary>
        public static string StripPrefix(string name)
        {
            string s = PythonStrip(name);
            int newline = s.IndexOf('\n');
            int searchEnd = newline < 0 ? s.Length : newline;
            int cut = searchEnd == 0 ? -1 : s.LastIndexOfAny(Separators, searchEnd - 1, searchEnd);
            return cut < 0 ? s : s.Substring(cut + 1);
        }

        // str.strip(): Python's whitespace is .NET's plus the separators U+001C..U+001F.
        private static string PythonStrip(string s)
        {
            int start = 0, end = s.Length;
            while (start < end && IsPythonSpace(s[start])) start++;
            while (end > start && IsPythonSpace(s[end - 1])) end--;
            return s.Substring(start, end - start);
        }

        private static bool IsPythonSpace(char c)
        {
            return char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');
        }

        private static readonly char[] Separators = { '.', ':', '|', '/' };

        /// <summary>The comparison key: no prefix, lower case, only a-z and 0-9.</summary>
        public static string Key(string name)
        {
            string s = StripPrefix(name).ToLowerInvariant();
            var b = new StringBuilder(s.Length);
            foreach (char c in s)
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) b.Append(c);
            return b.ToString();
        }

        /// <summary>Every key under which `canonical` may be met in the wild.</summary>
        public static HashSet<string> Spellings(string canonical, string optionalPrefix = "")
        {
            var bases = new List<string> { canonical };
            if (!string.IsNullOrEmpty(optionalPrefix) && canonical.StartsWith(optionalPrefix, StringComparison.Ordinal))
                bases.Add(canonical.Substring(optionalPrefix.Length));
            var result = new HashSet<string>(StringComparer.Ordinal);
            foreach (string b in bases)
            {
                result.Add(Key(b));
                bool endsLeft = b.EndsWith("Left", StringComparison.Ordinal);
                bool endsRight = b.EndsWith("Right", StringComparison.Ordinal);
                // Left/Right written as L/R (Unity's `eyeBlink_L`) ...
                if (endsLeft) result.Add(Key(b.Substring(0, b.Length - 4) + "L"));
                else if (endsRight) result.Add(Key(b.Substring(0, b.Length - 5) + "R"));
                // ... and L/R written as Left/Right (a MetaHuman `eyeBlinkL` met as `eyeBlinkLeft`).
                else
                {
                    int start, length;
                    if (FindSideLetter(b, out start, out length))
                    {
                        string word = b[start + length - 1] == 'L' ? "Left" : "Right";
                        result.Add(Key(b.Substring(0, start) + word + b.Substring(start + length)));
                    }
                }
            }
            return result;
        }

        /// <summary>The first match of the reference's `_?(L|R)(?=$|Ph\d$)`: a side letter, maybe
        /// behind an underscore, only at the end of a name or before a MetaHuman phase suffix
        /// (`…LPh1`; any Unicode digit, like Python's \d), so that e.g. "mouthRoll" is never split.</summary>
        private static bool FindSideLetter(string s, out int start, out int length)
        {
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] == '_' && i + 1 < s.Length && IsSide(s[i + 1]) && SideEndsAt(s, i + 2))
                {
                    start = i;
                    length = 2;
                    return true;
                }
                if (IsSide(s[i]) && SideEndsAt(s, i + 1))
                {
                    start = i;
                    length = 1;
                    return true;
                }
            }
            start = length = 0;
            return false;
        }

        private static bool IsSide(char c)
        {
            return c == 'L' || c == 'R';
        }

        // Python's `$` also matches before one final "\n"; names never end in one after a side letter
        // in practice, but keep the rule exact.
        private static bool SideEndsAt(string s, int at)
        {
            if (AtEnd(s, at)) return true;
            return at + 3 <= s.Length && s[at] == 'P' && s[at + 1] == 'h' && char.IsDigit(s[at + 2]) && AtEnd(s, at + 3);
        }

        private static bool AtEnd(string s, int at)
        {
            return at == s.Length || (at == s.Length - 1 && s[at] == '\n');
        }
    }

    /// <summary>The similarity ratio of Python's difflib.SequenceMatcher(None, a, b).ratio(),
    /// including its "popular characters" rule for b of 200 or more characters, so "closest known
    /// names" come out as the reference lists them.</summary>
    public static class SequenceMatcher
    {
        public static double Ratio(string a, string b)
        {
            int total = a.Length + b.Length;
            if (total == 0) return 1.0;
            bool[] popular = Popular(b);
            int matches = 0;
            // get_matching_blocks: the longest match, then recursively the parts left and right of it.
            var queue = new Stack<int[]>();
            queue.Push(new[] { 0, a.Length, 0, b.Length });
            while (queue.Count > 0)
            {
                int[] q = queue.Pop();
                int alo = q[0], ahi = q[1], blo = q[2], bhi = q[3];
                int i, j, k;
                LongestMatch(a, b, popular, alo, ahi, blo, bhi, out i, out j, out k);
                if (k == 0) continue;
                matches += k;
                if (alo < i && blo < j) queue.Push(new[] { alo, i, blo, j });
                if (i + k < ahi && j + k < bhi) queue.Push(new[] { i + k, ahi, j + k, bhi });
            }
            return 2.0 * matches / total;
        }

        private static bool[] Popular(string b)
        {
            var popular = new bool[b.Length];
            int n = b.Length;
            if (n < 200) return popular;
            int ntest = n / 100 + 1;
            var counts = new Dictionary<char, int>();
            foreach (char c in b)
            {
                int x;
                counts.TryGetValue(c, out x);
                counts[c] = x + 1;
            }
            for (int j = 0; j < n; j++) popular[j] = counts[b[j]] > ntest;
            return popular;
        }

        /// <summary>find_longest_match without junk: the longest block a[i..i+k) == b[j..j+k), the
        /// earliest in a, then the earliest in b; seeded only by non-popular characters of b, then
        /// extended over equal characters on both sides as difflib does.</summary>
        private static void LongestMatch(string a, string b, bool[] popular, int alo, int ahi, int blo, int bhi,
            out int besti, out int bestj, out int bestsize)
        {
            besti = alo;
            bestj = blo;
            bestsize = 0;
            var prev = new int[b.Length + 1]; // prev[j + 1]: length of the match ending at a[i-1], b[j]
            var cur = new int[b.Length + 1];
            for (int i = alo; i < ahi; i++)
            {
                for (int j = blo; j < bhi; j++)
                {
                    if (a[i] != b[j] || popular[j])
                    {
                        cur[j + 1] = 0;
                        continue;
                    }
                    int k = (j > blo ? prev[j] : 0) + 1;
                    cur[j + 1] = k;
                    if (k > bestsize)
                    {
                        besti = i - k + 1;
                        bestj = j - k + 1;
                        bestsize = k;
                    }
                }
                var t = prev;
                prev = cur;
                cur = t;
            }
            while (besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1])
            {
                besti--;
                bestj--;
                bestsize++;
            }
            while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize])
                bestsize++;
        }
    }
}
