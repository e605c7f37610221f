using System.Collections.Generic;
using Emorig.Bridge.Core;
using UnityEditor;
using UnityEngine;

namespace Emorig.Bridge.Editor
{
    /// <summary>EmorigFace's inspector: one-click auto-mapping (against the live stream when there
    /// is one, else a known curve list), what did not match and what it resembles, live status,
    /// and recording a take to an .anim asset.</summary>
    [CustomEditor(typeof(EmorigFace))]
    public sealed class EmorigFaceEditor : UnityEditor.Editor
    {
        private static readonly string[] Sources = { "ARKit (52 shapes)", "Live Link Face (61 curves)" };
        private int _source;
        private string _report;

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var face = (EmorigFace)target;
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Auto-map", EditorStyles.boldLabel);
            CurveLayout live = face.LiveLayout();
            if (live != null)
                EditorGUILayout.HelpBox("Maps against the live stream: " + live, MessageType.None);
            else
                _source = EditorGUILayout.Popup("Curve names", _source, Sources);
            bool hasMesh = face.target != null && face.target.sharedMesh != null;
            if (!hasMesh) EditorGUILayout.HelpBox("Set Target to a SkinnedMeshRenderer with blendshapes first.", MessageType.Warning);
            using (new EditorGUI.DisabledScope(!hasMesh))
            {
                if (GUILayout.Button("Auto-map blendshapes")) AutoMap(face, live);
            }
            if (_report != null) EditorGUILayout.HelpBox(_report, MessageType.Info);
            if (Application.isPlaying) PlayModeGUI(face);
        }

        private void AutoMap(EmorigFace face, CurveLayout live)
        {
            IList<string> curves = live != null ? new List<string>(live.Curves)
                : (IList<string>)(_source == 0 ? KnownCurves.Arkit : KnownCurves.LiveLinkFace);
            string space = live != null ? live.Space : _source == 0 ? "arkit" : "livelinkface";
            Undo.RecordObject(face, "Auto-map blendshapes");
            var unmatched = new List<string>();
            int mapped = face.AutoMap(curves, space, unmatched);
            EditorUtility.SetDirty(face);
            _report = "Mapped " + mapped + " of " + (mapped + unmatched.Count) + " blendshapes to " + space + " curves.";
            if (unmatched.Count == 0) return;
            var index = new NameIndex(curves, NameIndex.OptionalPrefixFor(space));
            var lines = new List<string>();
            foreach (string name in unmatched)
            {
                List<string> near = index.Closest(name, 2);
                lines.Add(name + (near.Count > 0 ? "  (like " + string.Join(", ", near.ToArray()) + "?)" : ""));
            }
            _report += "\nNot matched (add bindings by hand if they should move):\n  " + string.Join("\n  ", lines.ToArray());
        }

        private static void PlayModeGUI(EmorigFace face)
        {
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Live", EditorStyles.boldLabel);
            CurveLayout layout = face.Layout;
            if (layout == null)
                EditorGUILayout.HelpBox(face.receiver == null ? "No receiver set." : "Waiting for frames (subject '"
                    + (string.IsNullOrEmpty(face.subject) ? "any" : face.subject) + "').", MessageType.Info);
            else
                EditorGUILayout.LabelField(layout.ToString() + "; driving " + face.Driver.ShapeCount + " blendshapes");
            foreach (string problem in face.Driver.Problems) EditorGUILayout.HelpBox(problem, MessageType.Warning);

            if (!face.IsRecording)
            {
                if (GUILayout.Button("Start recording")) face.StartRecording();
                return;
            }
            EditorGUILayout.LabelField("Recording: " + face.RecordedFrames + " frames");
            if (GUILayout.Button("Stop recording and save…")) Save(face.StopRecording());
        }

        private static void Save(AnimationClip clip)
        {
            if (clip == null)
            {
                EditorUtility.DisplayDialog("emorig", "No frame arrived while recording: nothing to save.", "OK");
                return;
            }
            string path = EditorUtility.SaveFilePanelInProject("Save emorig take", clip.name, "anim", "Where to save the recorded take");
            if (string.IsNullOrEmpty(path)) return;
            AssetDatabase.CreateAsset(clip, path);
            AssetDatabase.SaveAssets();
        }

        public override bool RequiresConstantRepaint()
        {
            return Application.isPlaying;
        }
    }

    /// <summary>EmorigReceiver's inspector: state, counters and subjects while playing.</summary>
    [CustomEditor(typeof(EmorigReceiver))]
    public sealed class EmorigReceiverEditor : UnityEditor.Editor
    {
        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var receiver = (EmorigReceiver)target;
            Receiver core = receiver.Core;
            if (!Application.isPlaying || core == null) return;
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Live", EditorStyles.boldLabel);
            EditorGUILayout.LabelField(core.Endpoint + ": " + core.State);
            EditorGUILayout.HelpBox(core.Stats.Summary(), MessageType.None);
            if (core.LastError != null) EditorGUILayout.HelpBox(core.LastError, MessageType.Warning);
            if (core.LastWarning != null) EditorGUILayout.HelpBox(core.LastWarning, MessageType.Error);
            foreach (Subject s in core.Subjects.All)
            {
                CurveLayout layout = s.Layout;
                EditorGUILayout.LabelField(s.Name, (layout == null ? "no names yet" : layout.Space + ", " + layout.CurveCount
                    + " curves, " + layout.Fps + " fps") + "; frames " + s.Published + ", superseded " + s.Superseded);
            }
            if (GUILayout.Button("Restart with these settings")) receiver.Restart();
        }

        public override bool RequiresConstantRepaint()
        {
            return Application.isPlaying;
        }
    }
}
