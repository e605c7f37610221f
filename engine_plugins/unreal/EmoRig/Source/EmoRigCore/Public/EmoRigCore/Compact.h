// emorig's OSC compact format (docs/protocol.md, "mode=compact"): a names message per subject,
// then one bundle per frame holding /frame, /values and /emotion.
//
//   /emorig/<subject>/names    ,isf s...   schema, rig space, fps, the K curve names
//   /emorig/<subject>/frame    ,ids        frame number, audio-clock seconds, rig space
//   /emorig/<subject>/values   ,f...       K float32 values
//   /emorig/<subject>/emotion  ,sf f*8     label, intensity, the 8 label probabilities
//
// The checks and their order follow the reference decoder (bridge/protocol.py
// decode_osc_compact) so both reject the same datagrams with the same reason. Unknown
// messages inside a frame bundle and trailing arguments after the known ones are ignored
// (the versioning rules); a names message of another schema version is UnsupportedSchema.
#pragma once

#include "EmoRigCore/Bytes.h"
#include "EmoRigCore/Osc.h"
#include "EmoRigCore/Reason.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace emorig
{

constexpr int32_t SchemaVersion = 1;
constexpr size_t EmotionCount = 8;

// The emotion labels in schema order (the order of the probabilities).
inline const char* const* EmotionLabels()
{
    static const char* const Labels[EmotionCount] = {"neutral", "happy", "sad", "angry",
                                                     "surprised", "fear", "disgust", "contempt"};
    return Labels;
}

struct CompactNames
{
    std::string_view Subject;
    int32_t Schema = 0;      // also filled when the result is UnsupportedSchema
    std::string_view Space;
    float Fps = 0.0f;
    size_t CurveCount = 0;
    OscMessage Message;      // the curve names are its arguments from index 3 on

    // Fn(std::string_view Name) for each curve name, in order.
    template <class F>
    void ForEachCurveName(F&& Fn) const
    {
        OscArgReader Reader(Message);
        OscArg Arg;
        for (size_t I = 0; Reader.Next(Arg); ++I)
        {
            if (I >= 3) Fn(Arg.Str);
        }
    }
};

struct CompactFrame
{
    uint64_t TimeTag = 0;
    std::string_view Subject;
    int32_t Number = 0;
    double Time = 0.0;
    std::string_view Space;
    const uint8_t* ValuesBE = nullptr;  // ValueCount big-endian float32s inside the datagram
    size_t ValueCount = 0;
    bool bHasEmotion = false;
    std::string_view Emotion;
    float Intensity = 0.0f;
    float Probs[EmotionCount] = {};

    float Value(size_t I) const { return LoadBEF32(ValuesBE + 4 * I); }
    void CopyValues(float* Out) const
    {
        for (size_t I = 0; I < ValueCount; ++I) Out[I] = Value(I);
    }
};

struct CompactMessage
{
    enum class EKind : uint8_t { Names, Frame };
    EKind Kind = EKind::Names;
    CompactNames Names;
    CompactFrame Frame;
};

// "/emorig/<subject>/<leaf>" with exactly those three parts and a non-empty subject.
inline bool SplitEmorigAddress(std::string_view Address, std::string_view& Subject, std::string_view& Leaf)
{
    constexpr std::string_view Root = "/emorig/";
    if (Address.substr(0, Root.size()) != Root)
    {
        return false;
    }
    const std::string_view Rest = Address.substr(Root.size());
    const size_t Slash = Rest.find('/');
    if (Slash == std::string_view::npos || Slash == 0)
    {
        return false;
    }
    Leaf = Rest.substr(Slash + 1);
    if (Leaf.empty() || Leaf.find('/') != std::string_view::npos)
    {
        return false;
    }
    Subject = Rest.substr(0, Slash);
    return true;
}

namespace detail
{
inline bool TagsStartWith(std::string_view Tags, std::string_view Prefix)
{
    return Tags.substr(0, Prefix.size()) == Prefix;
}

inline Reason DecodeCompactNames(const uint8_t* Data, size_t Size, CompactNames& Out)
{
    OscMessage M;
    if (ParseOscMessage(Data, Size, M) != Reason::Ok)
    {
        return Reason::BadOsc;
    }
    std::string_view Leaf;
    if (!SplitEmorigAddress(M.Address, Out.Subject, Leaf) || Leaf != "names")
    {
        return Reason::UnknownAddress;
    }
    OscArgReader Reader(M);
    OscArg Arg;
    // The schema is checked before the other arguments: a future schema may change them.
    if (!M.Tags.empty() && M.Tags[0] == 'i' && Reader.Next(Arg))
    {
        Out.Schema = Arg.I32;
        if (Arg.I32 != SchemaVersion)
        {
            return Reason::UnsupportedSchema;
        }
    }
    if (!TagsStartWith(M.Tags, "isf"))
    {
        return Reason::BadArguments;
    }
    if (M.Tags.find_first_not_of('s', 3) != std::string_view::npos)
    {
        return Reason::BadArguments;  // /names ends in strings only; it never gains arguments
    }
    Reader.Next(Arg);
    Out.Space = Arg.Str;
    Reader.Next(Arg);
    Out.Fps = Arg.F32;
    Out.CurveCount = M.Tags.size() - 3;
    Out.Message = M;
    return Reason::Ok;
}

inline Reason DecodeCompactFrame(const uint8_t* Data, size_t Size, CompactFrame& Out)
{
    OscBundleReader Bundle;
    if (Bundle.Open(Data, Size) != Reason::Ok)
    {
        return Reason::BadOsc;
    }
    // The last message of each kind wins, as in the reference decoder.
    enum { Frame, Values, Emotion, Kinds };
    OscMessage Found[Kinds];
    std::string_view Subjects[Kinds];
    bool bHave[Kinds] = {false, false, false};
    ByteView Element;
    Reason Error = Reason::Ok;
    while (Bundle.Next(Element, Error))
    {
        OscMessage M;
        if (ParseOscMessage(Element.data, Element.size, M) != Reason::Ok)
        {
            return Reason::BadOsc;  // includes nested bundles: a frame bundle holds messages
        }
        std::string_view Subject, Leaf;
        if (!SplitEmorigAddress(M.Address, Subject, Leaf))
        {
            continue;
        }
        const int Kind = Leaf == "frame" ? Frame : Leaf == "values" ? Values : Leaf == "emotion" ? Emotion : -1;
        if (Kind >= 0)
        {
            Found[Kind] = M;
            Subjects[Kind] = Subject;
            bHave[Kind] = true;
        }
    }
    if (Error != Reason::Ok)
    {
        return Error;
    }
    if (!bHave[Frame] || !bHave[Values])
    {
        return Reason::IncompleteFrame;
    }
    if (Subjects[Values] != Subjects[Frame] || (bHave[Emotion] && Subjects[Emotion] != Subjects[Frame]))
    {
        return Reason::MixedSubjects;
    }
    if (!TagsStartWith(Found[Frame].Tags, "ids"))
    {
        return Reason::BadArguments;
    }
    if (Found[Values].Tags.find_first_not_of('f') != std::string_view::npos)
    {
        return Reason::BadArguments;
    }
    OscArg Arg;
    OscArgReader FrameArgs(Found[Frame]);
    FrameArgs.Next(Arg);
    Out.Number = Arg.I32;
    FrameArgs.Next(Arg);
    Out.Time = Arg.F64;
    FrameArgs.Next(Arg);
    Out.Space = Arg.Str;
    Out.TimeTag = Bundle.TimeTag;
    Out.Subject = Subjects[Frame];
    Out.ValuesBE = Found[Values].Args.data;  // only f tags: the values are the argument bytes
    Out.ValueCount = Found[Values].Tags.size();
    Out.bHasEmotion = bHave[Emotion];
    if (bHave[Emotion])
    {
        if (!TagsStartWith(Found[Emotion].Tags, "sfffffffff"))
        {
            return Reason::BadArguments;
        }
        OscArgReader EmotionArgs(Found[Emotion]);
        EmotionArgs.Next(Arg);
        Out.Emotion = Arg.Str;
        EmotionArgs.Next(Arg);
        Out.Intensity = Arg.F32;
        for (size_t I = 0; I < EmotionCount; ++I)
        {
            EmotionArgs.Next(Arg);
            Out.Probs[I] = Arg.F32;
        }
    }
    bool bFinite = std::isfinite(Out.Time) && std::isfinite(Out.Intensity);
    for (size_t I = 0; I < Out.ValueCount; ++I) bFinite = bFinite && std::isfinite(Out.Value(I));
    for (size_t I = 0; I < EmotionCount; ++I) bFinite = bFinite && std::isfinite(Out.Probs[I]);
    return bFinite ? Reason::Ok : Reason::NonFiniteValue;
}
}  // namespace detail

// Decodes one compact-mode datagram: a names message, or a frame bundle.
inline Reason DecodeOscCompact(const uint8_t* Data, size_t Size, CompactMessage& Out)
{
    Out = CompactMessage();
    // Like the reference: "#bundle" (even without its NUL) means a bundle; anything else must
    // be a names message.
    if (Size >= 7 && std::memcmp(Data, "#bundle", 7) == 0)
    {
        Out.Kind = CompactMessage::EKind::Frame;
        return detail::DecodeCompactFrame(Data, Size, Out.Frame);
    }
    Out.Kind = CompactMessage::EKind::Names;
    return detail::DecodeCompactNames(Data, Size, Out.Names);
}

}  // namespace emorig
