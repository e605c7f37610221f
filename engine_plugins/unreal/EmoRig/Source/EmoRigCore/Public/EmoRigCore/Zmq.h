// emorig's ZeroMQ payloads (docs/protocol.md, "ZeroMQ"): one msgpack map per message,
// `static` (what the curves are) or `frame` (the values). The Unreal plugin listens on UDP
// and does not link ZeroMQ; this decoder keeps the core complete against the golden vectors
// and ready for a ZeroMQ transport. Checks and their order follow bridge/protocol.py
// decode_zmq; unknown keys and unknown message types are ignored (the versioning rules).
#pragma once

#include "EmoRigCore/Bytes.h"
#include "EmoRigCore/Compact.h"
#include "EmoRigCore/Msgpack.h"
#include "EmoRigCore/Reason.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace emorig
{

// A msgpack array inside the payload, read again on demand.
struct MsgpackArrayRef
{
    const uint8_t* Data = nullptr;  // the first element
    size_t Size = 0;                // bytes from the first element to the end of the payload
    uint32_t Count = 0;

    // Fn(const MpValue&) for each element; elements here are scalars (validated before).
    template <class F>
    void ForEach(F&& Fn) const
    {
        MsgpackReader R(Data, Size);
        MpValue V;
        for (uint32_t I = 0; I < Count && R.ReadHeader(V); ++I)
        {
            Fn(V);
            R.SkipBody(V, 1);
        }
    }
};

struct ZmqMessage
{
    enum class EKind : uint8_t { Static, Frame, Other };
    EKind Kind = EKind::Other;
    std::string_view Type;
    int64_t Schema = 0;  // also filled when the result is UnsupportedSchema
    std::string_view Subject;
    std::string_view Space;
    // static
    double Fps = 0.0;
    MsgpackArrayRef Curves;    // strings
    MsgpackArrayRef Emotions;  // strings
    // frame
    int64_t Number = 0;
    double Time = 0.0;
    const uint8_t* ValuesLE = nullptr;  // ValueCount little-endian float32s
    size_t ValueCount = 0;
    std::string_view Emotion;
    double Probs[EmotionCount] = {};
    double Intensity = 0.0;

    float Value(size_t I) const { return LoadLEF32(ValuesLE + 4 * I); }
};

namespace detail
{
enum ZmqKey { KType, KSchema, KSubject, KSpace, KFps, KCurves, KEmotions, KNumber, KTime, KValues, KEmotion,
              KEmotionProbs, KIntensity, KCount };

inline int ZmqKeyIndex(std::string_view K)
{
    static const char* const Names[KCount] = {"type", "schema", "subject", "space", "fps", "curves", "emotions",
                                              "number", "time", "values", "emotion", "emotion_probs", "intensity"};
    for (int I = 0; I < KCount; ++I)
    {
        if (K == Names[I]) return I;
    }
    return -1;
}

enum class ZmqWant { Str, Int, Float, List, Bytes };

inline bool ZmqTypeOk(const MpValue& V, ZmqWant Want)
{
    switch (Want)
    {
    case ZmqWant::Str: return V.Type == MpType::Str;
    case ZmqWant::Int: return V.IsInteger();
    // A sender may write a whole number as an int; either way it must be finite.
    case ZmqWant::Float: return V.IsNumber() && std::isfinite(V.AsDouble());
    case ZmqWant::List: return V.Type == MpType::Array;
    case ZmqWant::Bytes: return V.Type == MpType::Bin;
    }
    return false;
}

inline bool AllStrings(const MsgpackArrayRef& A)
{
    bool bOk = true;
    A.ForEach([&](const MpValue& V) { bOk = bOk && V.Type == MpType::Str; });
    return bOk;
}
}  // namespace detail

inline Reason DecodeZmq(const uint8_t* Data, size_t Size, ZmqMessage& Out)
{
    using namespace detail;
    Out = ZmqMessage();
    {
        MsgpackReader Whole(Data, Size);
        if (!Whole.SkipValue() || !Whole.AtEnd())
        {
            return Reason::NotMsgpack;  // not exactly one valid msgpack value
        }
    }
    MsgpackReader R(Data, Size);
    MpValue Top;
    R.ReadHeader(Top);
    if (Top.Type != MpType::Map)
    {
        return Reason::NotAMap;
    }
    // Where each known key's value is (the last one wins, as in a Python dict).
    MpValue Found[KCount];
    MsgpackArrayRef Arrays[KCount];
    bool bHave[KCount] = {};
    for (uint32_t I = 0; I < Top.Count; ++I)
    {
        MpValue Key, Value;
        R.ReadHeader(Key);
        R.ReadHeader(Value);
        const int K = Key.Type == MpType::Str ? ZmqKeyIndex(AsText(Key.Bytes.data, Key.Bytes.size)) : -1;
        if (K >= 0)
        {
            Found[K] = Value;
            bHave[K] = true;
            if (Value.Type == MpType::Array)
            {
                Arrays[K] = MsgpackArrayRef{Data + R.Position(), Size - R.Position(), Value.Count};
            }
        }
        R.SkipBody(Value, 1);
    }
    if (!bHave[KSchema] || !Found[KSchema].IsInteger() || !bHave[KType] || Found[KType].Type != MpType::Str)
    {
        return Reason::MissingField;
    }
    const MpValue& Schema = Found[KSchema];
    Out.Schema = Schema.Type == MpType::Int ? Schema.Int : int64_t(Schema.UInt);
    Out.Type = AsText(Found[KType].Bytes.data, Found[KType].Bytes.size);
    const bool bSchemaOk = Schema.Type == MpType::Int ? Schema.Int == SchemaVersion : Schema.UInt == uint64_t(SchemaVersion);
    if (!bSchemaOk)
    {
        return Reason::UnsupportedSchema;
    }
    struct Field { int Key; ZmqWant Want; };
    static const Field StaticFields[] = {{KSubject, ZmqWant::Str}, {KSpace, ZmqWant::Str}, {KFps, ZmqWant::Float},
                                         {KCurves, ZmqWant::List}, {KEmotions, ZmqWant::List}};
    static const Field FrameFields[] = {{KSubject, ZmqWant::Str}, {KNumber, ZmqWant::Int}, {KTime, ZmqWant::Float},
                                        {KSpace, ZmqWant::Str}, {KValues, ZmqWant::Bytes}, {KEmotion, ZmqWant::Str},
                                        {KEmotionProbs, ZmqWant::List}, {KIntensity, ZmqWant::Float}};
    const Field* Fields = nullptr;
    size_t FieldCount = 0;
    if (Out.Type == "static")
    {
        Out.Kind = ZmqMessage::EKind::Static;
        Fields = StaticFields;
        FieldCount = sizeof StaticFields / sizeof StaticFields[0];
    }
    else if (Out.Type == "frame")
    {
        Out.Kind = ZmqMessage::EKind::Frame;
        Fields = FrameFields;
        FieldCount = sizeof FrameFields / sizeof FrameFields[0];
    }
    else
    {
        return Reason::Ok;  // a message type this reader does not know: the caller ignores it
    }
    for (size_t I = 0; I < FieldCount; ++I)
    {
        if (!bHave[Fields[I].Key]) return Reason::MissingField;
        if (!ZmqTypeOk(Found[Fields[I].Key], Fields[I].Want)) return Reason::BadField;
    }
    auto Text = [&](int K) { return AsText(Found[K].Bytes.data, Found[K].Bytes.size); };
    Out.Subject = Text(KSubject);
    Out.Space = Text(KSpace);
    if (Out.Kind == ZmqMessage::EKind::Static)
    {
        Out.Fps = Found[KFps].AsDouble();
        Out.Curves = Arrays[KCurves];
        Out.Emotions = Arrays[KEmotions];
        return AllStrings(Out.Curves) && AllStrings(Out.Emotions) ? Reason::Ok : Reason::BadField;
    }
    const MpValue& Number = Found[KNumber];
    Out.Number = Number.Type == MpType::Int ? Number.Int : int64_t(Number.UInt);
    Out.Time = Found[KTime].AsDouble();
    Out.Emotion = Text(KEmotion);
    Out.Intensity = Found[KIntensity].AsDouble();
    const ByteView Values = Found[KValues].Bytes;
    if (Values.size % 4 != 0)
    {
        return Reason::BadValuesLength;
    }
    Out.ValuesLE = Values.data;
    Out.ValueCount = Values.size / 4;
    const MsgpackArrayRef& Probs = Arrays[KEmotionProbs];
    bool bProbsOk = Probs.Count == EmotionCount;
    size_t P = 0;
    Probs.ForEach([&](const MpValue& V) {
        bProbsOk = bProbsOk && ZmqTypeOk(V, ZmqWant::Float);
        if (P < EmotionCount) Out.Probs[P++] = V.AsDouble();
    });
    if (!bProbsOk)
    {
        return Reason::BadField;
    }
    for (size_t I = 0; I < Out.ValueCount; ++I)
    {
        if (!std::isfinite(Out.Value(I))) return Reason::NonFiniteValue;
    }
    return Reason::Ok;
}

}  // namespace emorig
