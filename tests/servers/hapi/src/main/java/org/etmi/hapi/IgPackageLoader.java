package org.etmi.hapi;

import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * Installs the project's IG package (a .tgz made by the start script from profiles/package/) before
 * the web server accepts requests, so $validate?profile= knows the ETMI profiles and the
 * Questionnaires, CodeSystems and ValueSets are stored. A missing package is logged, not fatal.
 */
@Component
public class IgPackageLoader implements SmartInitializingSingleton {

	private static final Logger LOG = LoggerFactory.getLogger(IgPackageLoader.class);

	static final List<String> INSTALL_TYPES = List.of(
			"NamingSystem", "CodeSystem", "ValueSet", "StructureDefinition", "ConceptMap",
			"SearchParameter", "Questionnaire", "PlanDefinition", "ActivityDefinition", "Library");

	private final IPackageInstallerSvc installer;
	private final String packagePath;

	public IgPackageLoader(IPackageInstallerSvc installer, @Value("${etmi.ig-package:}") String packagePath) {
		this.installer = installer;
		this.packagePath = packagePath;
	}

	@Override
	public void afterSingletonsInstantiated() {
		if (packagePath.isBlank() || !Files.isRegularFile(Path.of(packagePath))) {
			LOG.warn("ETMI IG package not installed: no package archive at '{}' (profiles/package/ absent?)",
					packagePath);
			return;
		}
		try {
			byte[] tgz = Files.readAllBytes(Path.of(packagePath));
			JsonNode manifest = readManifest(tgz);
			String name = manifest.path("name").asText("etmi.local");
			String version = manifest.path("version").asText("0.0.0");
			PackageInstallationSpec spec = new PackageInstallationSpec()
					.setName(name)
					.setVersion(version)
					.setPackageContents(tgz)
					.setFetchDependencies(false)
					.setInstallMode(PackageInstallationSpec.InstallModeEnum.STORE_AND_INSTALL);
			spec.setInstallResourceTypes(INSTALL_TYPES);
			spec.setReloadExisting(true);
			PackageInstallOutcomeJson outcome = installer.install(spec);
			LOG.info("ETMI IG package {}#{} installed: {}", name, version, outcome.getResourcesInstalled());
			outcome.getMessage().forEach(m -> LOG.debug("ETMI IG install: {}", m));
		} catch (IOException | RuntimeException e) {
			// a broken package must not hide the server; the tests report what is missing
			LOG.error("ETMI IG package at '{}' could not be installed: {}", packagePath, e.toString(), e);
		}
	}

	private static JsonNode readManifest(byte[] tgz) throws IOException {
		try (InputStream raw = new java.io.ByteArrayInputStream(tgz);
				TarArchiveInputStream tar = new TarArchiveInputStream(new GZIPInputStream(raw))) {
			TarArchiveEntry entry;
			while ((entry = tar.getNextEntry()) != null) {
				if (entry.getName().equals("package/package.json")) {
					return new ObjectMapper().readTree(tar.readAllBytes());
				}
			}
		}
		throw new IOException("package/package.json missing in " + tgz.length + "-byte archive");
	}
}
