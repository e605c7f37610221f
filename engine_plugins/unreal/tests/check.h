// Tiny assertion macros for the core's tests: a failed check prints where and what, counts,
// and the test carries on, so one run shows every failure.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>

namespace emorig_test
{
inline int& Failures()
{
    static int N = 0;
    return N;
}
inline int& Checks()
{
    static int N = 0;
    return N;
}
inline std::string& Context()
{
    static std::string S;
    return S;
}
inline void Fail(const char* File, int Line, const std::string& What)
{
    ++Failures();
    if (Failures() <= 50)
    {
        std::fprintf(stderr, "FAIL %s:%d [%s] %s\n", File, Line, Context().c_str(), What.c_str());
    }
}
template <class A, class B>
std::string Describe(const A& Left, const B& Right)
{
    std::ostringstream S;
    S << "got <" << Left << "> expected <" << Right << ">";
    return S.str();
}
}  // namespace emorig_test

#define CHECK_TRUE(Cond)                                                   \
    do                                                                     \
    {                                                                      \
        ++emorig_test::Checks();                                           \
        if (!(Cond)) emorig_test::Fail(__FILE__, __LINE__, "not " #Cond); \
    } while (0)

#define CHECK_EQ(Got, Expected)                                                                             \
    do                                                                                                      \
    {                                                                                                       \
        ++emorig_test::Checks();                                                                            \
        const auto& CheckGot_ = (Got);                                                                      \
        const auto& CheckExpected_ = (Expected);                                                            \
        if (!(CheckGot_ == CheckExpected_))                                                                 \
            emorig_test::Fail(__FILE__, __LINE__, #Got ": " + emorig_test::Describe(CheckGot_, CheckExpected_)); \
    } while (0)
