// A small OSC encoder for building test datagrams (tests only: the plugin never sends OSC).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace emorig_test
{

using Bytes = std::vector<uint8_t>;

inline void PutBE32(Bytes& B, uint32_t V)
{
    for (int S = 24; S >= 0; S -= 8) B.push_back(uint8_t(V >> S));
}
inline void PutBE64(Bytes& B, uint64_t V)
{
    PutBE32(B, uint32_t(V >> 32));
    PutBE32(B, uint32_t(V));
}
inline void PutOscString(Bytes& B, std::string_view S)
{
    B.insert(B.end(), S.begin(), S.end());
    do B.push_back(0);
    while (B.size() % 4 != 0);
}

class OscMsg
{
public:
    explicit OscMsg(std::string InAddress) : Address(std::move(InAddress)) {}
    OscMsg& I(int32_t V) { Tags += 'i'; uint32_t U; std::memcpy(&U, &V, 4); PutBE32(Args, U); return *this; }
    OscMsg& F(float V) { Tags += 'f'; uint32_t U; std::memcpy(&U, &V, 4); PutBE32(Args, U); return *this; }
    OscMsg& D(double V) { Tags += 'd'; uint64_t U; std::memcpy(&U, &V, 8); PutBE64(Args, U); return *this; }
    OscMsg& H(int64_t V) { Tags += 'h'; uint64_t U; std::memcpy(&U, &V, 8); PutBE64(Args, U); return *this; }
    OscMsg& T(uint64_t V) { Tags += 't'; PutBE64(Args, V); return *this; }
    OscMsg& S(std::string_view V) { Tags += 's'; PutOscString(Args, V); return *this; }
    OscMsg& B(const Bytes& V)
    {
        Tags += 'b';
        PutBE32(Args, uint32_t(V.size()));
        Args.insert(Args.end(), V.begin(), V.end());
        while (Args.size() % 4 != 0) Args.push_back(0);
        return *this;
    }
    OscMsg& Tag(char C) { Tags += C; return *this; }  // T F N I [ ] carry no bytes

    Bytes Build() const
    {
        Bytes Out;
        PutOscString(Out, Address);
        PutOscString(Out, Tags);
        Out.insert(Out.end(), Args.begin(), Args.end());
        return Out;
    }

private:
    std::string Address;
    std::string Tags = ",";
    Bytes Args;
};

inline Bytes OscBundle(uint64_t TimeTag, const std::vector<Bytes>& Elements)
{
    Bytes Out;
    const char Head[8] = {'#', 'b', 'u', 'n', 'd', 'l', 'e', 0};
    Out.insert(Out.end(), Head, Head + 8);
    PutBE64(Out, TimeTag);
    for (const Bytes& E : Elements)
    {
        PutBE32(Out, uint32_t(E.size()));
        Out.insert(Out.end(), E.begin(), E.end());
    }
    return Out;
}

// emorig compact-mode messages.
inline Bytes MakeNames(const std::string& Subject, const std::string& Space, float Fps,
                          const std::vector<std::string>& Curves, int32_t Schema = 1)
{
    OscMsg M("/emorig/" + Subject + "/names");
    M.I(Schema).S(Space).F(Fps);
    for (const auto& C : Curves) M.S(C);
    return M.Build();
}

inline Bytes MakeFrame(const std::string& Subject, int32_t Number, double Time, const std::string& Space,
                          const std::vector<float>& Values, const std::string& Emotion = "happy", float Intensity = 0.5f)
{
    OscMsg Frame("/emorig/" + Subject + "/frame");
    Frame.I(Number).D(Time).S(Space);
    OscMsg Vals("/emorig/" + Subject + "/values");
    for (float V : Values) Vals.F(V);
    OscMsg Emo("/emorig/" + Subject + "/emotion");
    Emo.S(Emotion).F(Intensity);
    for (int I = 0; I < 8; ++I) Emo.F(I == 1 ? 1.0f : 0.0f);
    return OscBundle(1, {Frame.Build(), Vals.Build(), Emo.Build()});
}

}  // namespace emorig_test
