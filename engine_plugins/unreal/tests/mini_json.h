// A minimal JSON reader for the golden vectors' expectations (tests only). Numbers keep their
// text too, so 64-bit time tags survive exactly; \u escapes (with surrogate pairs) become UTF-8.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace emorig_test
{

struct Json
{
    enum class EType { Null, Bool, Number, String, Array, Object };
    EType Type = EType::Null;
    bool Bool = false;
    double Number = 0.0;
    std::string Text;  // the string, or the number as written
    std::vector<Json> Items;
    std::vector<std::pair<std::string, Json>> Members;

    const Json* Get(std::string_view Key) const
    {
        for (const auto& M : Members)
        {
            if (M.first == Key) return &M.second;
        }
        return nullptr;
    }
    const Json& operator[](std::string_view Key) const
    {
        static const Json NullJson;
        const Json* J = Get(Key);
        return J ? *J : NullJson;
    }
    bool IsNull() const { return Type == EType::Null; }
    uint64_t AsU64() const { return std::strtoull(Text.c_str(), nullptr, 10); }
    int64_t AsI64() const { return std::strtoll(Text.c_str(), nullptr, 10); }
};

class JsonParser
{
public:
    explicit JsonParser(std::string_view InText) : S(InText) {}

    bool Parse(Json& Out)
    {
        return Value(Out, 0) && (SkipSpace(), At == S.size());
    }

private:
    void SkipSpace()
    {
        while (At < S.size() && (S[At] == ' ' || S[At] == '\n' || S[At] == '\r' || S[At] == '\t')) ++At;
    }
    bool Literal(std::string_view Word)
    {
        if (S.substr(At, Word.size()) != Word) return false;
        At += Word.size();
        return true;
    }
    static void AppendUtf8(std::string& Out, uint32_t Cp)
    {
        if (Cp < 0x80) Out += char(Cp);
        else if (Cp < 0x800) { Out += char(0xC0 | (Cp >> 6)); Out += char(0x80 | (Cp & 0x3F)); }
        else if (Cp < 0x10000) { Out += char(0xE0 | (Cp >> 12)); Out += char(0x80 | ((Cp >> 6) & 0x3F)); Out += char(0x80 | (Cp & 0x3F)); }
        else { Out += char(0xF0 | (Cp >> 18)); Out += char(0x80 | ((Cp >> 12) & 0x3F)); Out += char(0x80 | ((Cp >> 6) & 0x3F)); Out += char(0x80 | (Cp & 0x3F)); }
    }
    bool Hex4(uint32_t& Out)
    {
        if (S.size() - At < 4) return false;
        Out = 0;
        for (int I = 0; I < 4; ++I)
        {
            const char C = S[At++];
            Out <<= 4;
            if (C >= '0' && C <= '9') Out |= uint32_t(C - '0');
            else if (C >= 'a' && C <= 'f') Out |= uint32_t(C - 'a' + 10);
            else if (C >= 'A' && C <= 'F') Out |= uint32_t(C - 'A' + 10);
            else return false;
        }
        return true;
    }
    bool String(std::string& Out)
    {
        if (At >= S.size() || S[At] != '"') return false;
        ++At;
        while (At < S.size() && S[At] != '"')
        {
            char C = S[At++];
            if (C != '\\')
            {
                Out += C;
                continue;
            }
            if (At >= S.size()) return false;
            C = S[At++];
            switch (C)
            {
            case '"': Out += '"'; break;
            case '\\': Out += '\\'; break;
            case '/': Out += '/'; break;
            case 'b': Out += '\b'; break;
            case 'f': Out += '\f'; break;
            case 'n': Out += '\n'; break;
            case 'r': Out += '\r'; break;
            case 't': Out += '\t'; break;
            case 'u':
            {
                uint32_t Cp = 0;
                if (!Hex4(Cp)) return false;
                if (Cp >= 0xD800 && Cp <= 0xDBFF)
                {
                    uint32_t Low = 0;
                    if (!Literal("\\u") || !Hex4(Low) || Low < 0xDC00 || Low > 0xDFFF) return false;
                    Cp = 0x10000 + ((Cp - 0xD800) << 10) + (Low - 0xDC00);
                }
                AppendUtf8(Out, Cp);
                break;
            }
            default: return false;
            }
        }
        if (At >= S.size()) return false;
        ++At;
        return true;
    }
    bool Value(Json& Out, int Depth)
    {
        if (Depth > 64) return false;
        SkipSpace();
        if (At >= S.size()) return false;
        const char C = S[At];
        if (C == '{')
        {
            Out.Type = Json::EType::Object;
            ++At;
            SkipSpace();
            if (At < S.size() && S[At] == '}') { ++At; return true; }
            while (true)
            {
                SkipSpace();
                std::pair<std::string, Json> Member;
                if (!String(Member.first)) return false;
                SkipSpace();
                if (!Literal(":") || !Value(Member.second, Depth + 1)) return false;
                Out.Members.push_back(std::move(Member));
                SkipSpace();
                if (Literal(",")) continue;
                return Literal("}");
            }
        }
        if (C == '[')
        {
            Out.Type = Json::EType::Array;
            ++At;
            SkipSpace();
            if (At < S.size() && S[At] == ']') { ++At; return true; }
            while (true)
            {
                Json Item;
                if (!Value(Item, Depth + 1)) return false;
                Out.Items.push_back(std::move(Item));
                SkipSpace();
                if (Literal(",")) continue;
                return Literal("]");
            }
        }
        if (C == '"')
        {
            Out.Type = Json::EType::String;
            return String(Out.Text);
        }
        if (Literal("true")) { Out.Type = Json::EType::Bool; Out.Bool = true; return true; }
        if (Literal("false")) { Out.Type = Json::EType::Bool; return true; }
        if (Literal("null")) { Out.Type = Json::EType::Null; return true; }
        const size_t Start = At;
        while (At < S.size() && (std::string_view("+-0123456789.eE").find(S[At]) != std::string_view::npos)) ++At;
        if (At == Start) return false;
        Out.Type = Json::EType::Number;
        Out.Text = std::string(S.substr(Start, At - Start));
        Out.Number = std::strtod(Out.Text.c_str(), nullptr);
        return true;
    }

    std::string_view S;
    size_t At = 0;
};

}  // namespace emorig_test
