// The engine-free protocol core: header-only standard C++17 (no Unreal includes), so it is an
// External module: nothing to compile or link here, only an include path for EmoRig.
// The same headers are unit-tested outside Unreal (engine_plugins/unreal/tests).

using System.IO;
using UnrealBuildTool;

public class EmoRigCore : ModuleRules
{
	public EmoRigCore(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;
		PublicIncludePaths.Add(Path.Combine(ModuleDirectory, "Public"));
	}
}
