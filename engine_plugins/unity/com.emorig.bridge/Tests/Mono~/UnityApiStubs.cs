// A stub of the few UnityEngine / UnityEditor members this package uses, with the signatures of
// Unity's C# reference source (github.com/Unity-Technologies/UnityCsReference). It exists only so
// tests/test_unity_core.py can compile Runtime/, Editor/ and Tests/Editor/ with mono's mcs and
// catch C# mistakes (types, names, a missing using, C# 7.2 compatibility). It says nothing about
// how the code behaves inside Unity. Not imported by Unity (this folder's name ends in "~").
#pragma warning disable 0067, 0649, 1591
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void DestroyImmediate(Object obj) { }
        public static T FindObjectOfType<T>() where T : Object { return null; }
        public static T FindFirstObjectByType<T>() where T : Object { return null; }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
        public T GetComponentInChildren<T>() { return default(T); }
        public T GetComponentInParent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
        public bool isActiveAndEnabled { get { return false; } }
    }

    public class MonoBehaviour : Behaviour { }

    public class ScriptableObject : Object { }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T AddComponent<T>() where T : Component { return null; }
    }

    public class Transform : Component
    {
        public Transform parent { get; set; }
        public Transform root { get { return null; } }
    }

    public class Renderer : Component { }

    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get; set; }
        public float GetBlendShapeWeight(int index) { return 0; }
        public void SetBlendShapeWeight(int index, float value) { }
    }

    public struct Vector3
    {
        public float x, y, z;
    }

    public sealed class Mesh : Object
    {
        public Vector3[] vertices { get; set; }
        public int[] triangles { get; set; }
        public int blendShapeCount { get { return 0; } }
        public string GetBlendShapeName(int shapeIndex) { return null; }
        public void AddBlendShapeFrame(string shapeName, float frameWeight, Vector3[] deltaVertices, Vector3[] deltaNormals, Vector3[] deltaTangents) { }
    }

    public class Animator : Behaviour { }

    public class Motion : Object { }

    public sealed class AnimationClip : Motion
    {
        public float frameRate { get; set; }
        public bool legacy { get; set; }
        public void SetCurve(string relativePath, Type type, string propertyName, AnimationCurve curve) { }
    }

    public struct Keyframe
    {
        public Keyframe(float time, float value) { this.time = time; this.value = value; }
        public float time { get; set; }
        public float value { get; set; }
    }

    public class AnimationCurve
    {
        public AnimationCurve(params Keyframe[] keys) { }
        public Keyframe[] keys { get; set; }
        public int length { get { return 0; } }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message, Object context) { }
        public static void LogError(object message, Object context) { }
    }

    public static class Time
    {
        public static float deltaTime { get { return 0; } }
        public static float unscaledTime { get { return 0; } }
    }

    public static class Application
    {
        public static bool isPlaying { get { return false; } }
    }

    public class GUIStyle { }

    public sealed class GUILayoutOption { }

    public class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) { return false; }
    }

    public class PropertyAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public class HeaderAttribute : PropertyAttribute
    {
        public HeaderAttribute(string header) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class RangeAttribute : PropertyAttribute
    {
        public RangeAttribute(float min, float max) { }
    }
}

namespace UnityEditor
{
    using UnityEngine;

    [AttributeUsage(AttributeTargets.Class)]
    public class CustomEditor : Attribute
    {
        public CustomEditor(Type inspectedType) { }
    }

    public class Editor : ScriptableObject
    {
        public UnityEngine.Object target { get { return null; } }
        public virtual void OnInspectorGUI() { }
        public bool DrawDefaultInspector() { return false; }
        public virtual bool RequiresConstantRepaint() { return false; }
    }

    public enum MessageType { None, Info, Warning, Error }

    public sealed class EditorStyles
    {
        public static GUIStyle boldLabel { get { return null; } }
    }

    public sealed class EditorGUI
    {
        public struct DisabledScope : IDisposable
        {
            public DisabledScope(bool disabled) { }
            public void Dispose() { }
        }
    }

    public sealed class EditorGUILayout
    {
        public static void Space() { }
        public static void LabelField(string label, params GUILayoutOption[] options) { }
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) { }
        public static void LabelField(string label, string label2, params GUILayoutOption[] options) { }
        public static void HelpBox(string message, MessageType type) { }
        public static int Popup(string label, int selectedIndex, string[] displayedOptions, params GUILayoutOption[] options) { return 0; }
    }

    public class Undo
    {
        public static void RecordObject(UnityEngine.Object objectToUndo, string name) { }
    }

    public sealed class EditorUtility
    {
        public static void SetDirty(UnityEngine.Object target) { }
        public static bool DisplayDialog(string title, string message, string ok) { return false; }
        public static string SaveFilePanelInProject(string title, string defaultName, string extension, string message) { return null; }
    }

    public sealed class AssetDatabase
    {
        public static void CreateAsset(UnityEngine.Object asset, string path) { }
        public static void SaveAssets() { }
    }

    public struct EditorCurveBinding
    {
        public string path;
        public Type type;
        public string propertyName;
        public static EditorCurveBinding FloatCurve(string inPath, Type inType, string inPropertyName) { return default(EditorCurveBinding); }
    }

    public class AnimationUtility
    {
        public static void SetEditorCurve(AnimationClip clip, EditorCurveBinding binding, AnimationCurve curve) { }
        public static AnimationCurve GetEditorCurve(AnimationClip clip, EditorCurveBinding binding) { return null; }
        public static EditorCurveBinding[] GetCurveBindings(AnimationClip clip) { return null; }
    }
}
