using System.Runtime.CompilerServices;

// The core tests check internals (byte readers, the UTF-8 validator) directly.
[assembly: InternalsVisibleTo("Emorig.Bridge.Core.Tests")]
