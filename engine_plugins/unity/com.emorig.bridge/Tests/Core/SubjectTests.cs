using System.Threading;
using NUnit.Framework;

namespace Emorig.Bridge.Core.Tests
{
    /// <summary>The lock-free hand-over of frames from the receiver thread to the reader.</summary>
    [TestFixture]
    public class SubjectTests
    {
        private static FaceFrame Publish(Subject s, float value)
        {
            FaceFrame f = Frame(value);
            f.Sequence = s.NextSequence();
            return s.Publish(f);
        }

        private static FaceFrame Frame(float value)
        {
            var f = new FaceFrame();
            f.SetValueCount(2);
            f.Values[0] = value;
            f.Values[1] = -value;
            return f;
        }

        [Test]
        public void LatestIsNullThenTheNewestFrame()
        {
            var table = new SubjectTable();
            Subject s = table.GetOrAdd("Ada");
            Assert.IsNull(s.Latest());
            FaceFrame spare = Publish(s, 1);
            Assert.IsNotNull(spare);
            FaceFrame a = s.Latest();
            Assert.AreEqual(1, a.Values[0]);
            Assert.AreEqual(1, a.Sequence);
            Assert.AreSame(a, s.Latest()); // nothing new: the same frame again
            Publish(s, 2);
            Publish(s, 3); // 2 is superseded before the reader looked
            FaceFrame b = s.Latest();
            Assert.AreEqual(3, b.Values[0]);
            Assert.AreEqual(3, b.Sequence);
            Assert.AreEqual(1, s.Superseded);
            Assert.AreEqual(3, s.Published);
        }

        [Test]
        public void FindByNameOrFirst()
        {
            var table = new SubjectTable();
            Assert.IsNull(table.Find(""));
            table.GetOrAdd("Ada");
            table.GetOrAdd("Bob");
            Assert.AreEqual("Ada", table.Find(null).Name);
            Assert.AreEqual("Bob", table.Find("Bob").Name);
            Assert.IsNull(table.Find("bob"));
            Assert.AreEqual(2, table.All.Count);
            for (int i = 0; i < SubjectTable.MaxSubjects + 5; i++) table.GetOrAdd("s" + i);
            Assert.AreEqual(SubjectTable.MaxSubjects, table.All.Count);
        }

        /// <summary>A real second thread publishing as fast as it can while this one reads: the
        /// reader must only ever see whole frames (value and sequence agree), in order.</summary>
        [Test]
        public void TwoThreadsNeverTearAFrame()
        {
            var table = new SubjectTable();
            Subject s = table.GetOrAdd("Ada");
            const int N = 300000;
            var producer = new Thread(() =>
            {
                FaceFrame f = new FaceFrame();
                for (int i = 1; i <= N; i++)
                {
                    f.SetValueCount(2);
                    f.Values[0] = i;
                    f.Values[1] = -i;
                    f.Sequence = s.NextSequence();
                    f = s.Publish(f);
                }
            });
            producer.Start();
            long last = 0, seen = 0;
            string error = null;
            while (last < N && error == null)
            {
                FaceFrame f = s.Latest();
                if (f == null || f.Sequence == last) continue;
                if (f.Sequence < last) error = "went backwards: " + f.Sequence + " after " + last;
                else if (f.Values[0] != f.Sequence || f.Values[1] != -f.Sequence) error = "torn frame " + f.Sequence + ": " + f.Values[0] + ", " + f.Values[1];
                last = f.Sequence;
                seen++;
            }
            producer.Join();
            Assert.IsNull(error);
            Assert.AreEqual(N, s.Published);
            Assert.AreEqual(N, seen + s.Superseded);
        }
    }
}
