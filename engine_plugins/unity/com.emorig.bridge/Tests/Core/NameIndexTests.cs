using System.Collections.Generic;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>The forgiving name matching of retarget/names.py, on the cases of emorig's
    /// tests/test_spaces.py (tests/test_unity_core.py also compares every spelling of every
    /// emorig rig space against the Python implementation itself).</summary>
    [TestFixture]
    public class NameIndexTests
    {
        private static readonly NameIndex Arkit = new NameIndex(KnownCurves.Arkit);

        [TestCase("eyeBlinkLeft")]
        [TestCase("EyeBlinkLeft")]
        [TestCase("eyeBlink_L")]
        [TestCase("EYEBLINKLEFT")]
        [TestCase("eyeblinkleft")]
        [TestCase("blendShape1.eyeBlinkLeft")]
        [TestCase("Face.eyeBlink_L")]
        [TestCase("head_geo:eyeBlinkLeft")]
        [TestCase("eye_blink_left")]
        [TestCase("  Body|eyeBlinkLeft ")]
        public void ArkitNameVariants(string spelling)
        {
            Assert.AreEqual("eyeBlinkLeft", KnownCurves.Arkit[Arkit.Find(spelling)]);
        }

        [Test]
        public void RightSideAndUnityKeysForEverySidedShape()
        {
            int sided = 0;
            for (int i = 0; i < KnownCurves.Arkit.Length; i++)
            {
                string c = KnownCurves.Arkit[i];
                foreach (var side in new[] { new[] { "Left", "L" }, new[] { "Right", "R" } })
                {
                    if (!c.EndsWith(side[0])) continue;
                    Assert.AreEqual(i, Arkit.Find(c.Substring(0, c.Length - side[0].Length) + "_" + side[1]), c);
                    sided++;
                }
            }
            Assert.AreEqual(40, sided); // 20 left/right pairs
        }

        [Test]
        public void MetaHumanNamesWithAndWithoutPrefix()
        {
            var names = new List<string>
            {
                "CTRL_expressions_browDownL", "CTRL_expressions_browDownR", "CTRL_expressions_mouthCornerPullL",
                "CTRL_expressions_mouthCornerPullR", "CTRL_expressions_jawOpen", "CTRL_expressions_mouthLipsTowardsUL",
            };
            var mh = new NameIndex(names, NameIndex.OptionalPrefixFor("metahuman"));
            int i = mh.Find("CTRL_expressions_mouthCornerPullL");
            Assert.AreEqual(2, i);
            Assert.AreEqual(i, mh.Find("mouthCornerPullL"));
            Assert.AreEqual(i, mh.Find("ctrl_expressions_mouthcornerpulll"));
            Assert.AreEqual(i, mh.Find("mouthCornerPull_Left"));
            Assert.AreEqual(4, mh.Find("jawOpen"));
            Assert.AreEqual(-1, new NameIndex(names, NameIndex.OptionalPrefixFor("arkit")).Find("jawOpen"));
        }

        [Test]
        public void AvatarParameterPaths()
        {
            var vrcft = new NameIndex(new[] { "EyeSquintRight", "JawOpen", "MouthClosed" });
            Assert.AreEqual(1, vrcft.Find("/avatar/parameters/FT/v2/JawOpen"));
        }

        [Test]
        public void SideLettersOnlyAtTheEndOrBeforeAPhase()
        {
            HashSet<string> s = NameIndex.Spellings("mouthRollLower");
            CollectionAssert.AreEquivalent(new[] { "mouthrolllower" }, s);
            CollectionAssert.AreEquivalent(new[] { "eyelookupl", "eyelookupleft" }, NameIndex.Spellings("eyeLookUpL"));
            CollectionAssert.AreEquivalent(new[] { "lipsl", "lipsleft" }, NameIndex.Spellings("lips_L"));
            CollectionAssert.AreEquivalent(new[] { "cornerlph1", "cornerleftph1" }, NameIndex.Spellings("cornerLPh1"));
            CollectionAssert.AreEquivalent(new[] { "jawr", "jawright" }, NameIndex.Spellings("jawRight"));
        }

        [Test]
        public void AnAliasTwoNamesClaimIsRefused()
        {
            // "xL" and "x_L" share the key "xl" (the later name keeps it) and both offer "xleft":
            // ambiguous, so "xLeft" finds nothing rather than a guess.
            var index = new NameIndex(new[] { "xL", "x_L", "yLeft" });
            Assert.AreEqual(1, index.Find("xL"));
            Assert.AreEqual(-1, index.Find("xLeft"));
            Assert.AreEqual(2, index.Find("y_L"));
        }

        [Test]
        public void UnknownNamesGetTheClosestKnownNames()
        {
            Assert.AreEqual(-1, Arkit.Find("mouthSmileLeftt"));
            CollectionAssert.AreEqual(new[] { "mouthSmileLeft", "mouthDimpleLeft", "mouthLeft" }, Arkit.Closest("mouthSmileLeftt"));
            CollectionAssert.AreEqual(new[] { "jawOpen", "jawForward" }, Arkit.Closest("jaw_opn"));
            Assert.AreEqual(0, Arkit.Closest("qqqqqqqq").Count);
        }

        [Test]
        public void DifflibRatio()
        {
            // difflib.SequenceMatcher(None, a, b).ratio() values computed with Python 3.
            Assert.AreEqual(1.0, SequenceMatcher.Ratio("", ""));
            Assert.AreEqual(0.0, SequenceMatcher.Ratio("abc", ""));
            Assert.AreEqual(0.75, SequenceMatcher.Ratio("abcd", "bcde"));
            Assert.AreEqual(12.0 / 13, SequenceMatcher.Ratio("jawopen", "jawopn"));
            Assert.AreEqual(2.0 * 4 / 12, SequenceMatcher.Ratio("qabxcd", "abycdf"));
        }
    }
}
