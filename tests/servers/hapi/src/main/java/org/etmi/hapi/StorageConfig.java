package org.etmi.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import jakarta.persistence.EntityManagerFactory;
import java.util.Properties;
import java.util.Set;
import javax.sql.DataSource;
import org.hl7.fhir.dstu2.model.Subscription.SubscriptionChannelType;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

/** Storage: H2 in memory, Hibernate, and the JPA settings of a sandbox-like server. */
@Configuration
@EnableTransactionManagement
public class StorageConfig {

	@Bean
	public JpaStorageSettings jpaStorageSettings(@Value("${etmi.base-url:}") String baseUrl) {
		JpaStorageSettings s = new JpaStorageSettings();
		s.setEnforceReferentialIntegrityOnWrite(true);
		s.setEnforceReferentialIntegrityOnDelete(true);
		s.setAutoCreatePlaceholderReferenceTargets(false);
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC);
		s.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.SEQUENTIAL_NUMERIC);
		s.setDeleteEnabled(true);
		s.setAllowMultipleDelete(true);
		s.setExpungeEnabled(true);
		s.setAllowExternalReferences(true);
		if (!baseUrl.isBlank()) {
			s.setTreatBaseUrlsAsLocal(Set.of(baseUrl));
		}
		s.setTreatReferencesAsLogical(Set.of(
				"http://loinc.org/*", "http://snomed.info/*", "http://unitsofmeasure.org/*",
				"http://hl7.org/fhir/*", "http://terminology.hl7.org/*"));
		s.setValidateResourceStatusForPackageUpload(false);
		// no background pre-expansion of ValueSets: $expand expands on request
		s.setPreExpandValueSets(false);
		s.setEnableTaskPreExpandValueSets(false);
		s.setReuseCachedSearchResultsForMillis(null);
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		SubscriptionSettings s = new SubscriptionSettings();
		s.addSupportedSubscriptionType(SubscriptionChannelType.RESTHOOK);
		return s;
	}

	/** Spring refuses null beans; email subscriptions are not used. */
	@Bean
	public IEmailSender emailSender() {
		return details -> {};
	}

	@Bean
	@Lazy
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	@Bean(destroyMethod = "close")
	public DataSource dataSource() {
		HikariConfig cfg = new HikariConfig();
		cfg.setJdbcUrl("jdbc:h2:mem:etmi_hapi;DB_CLOSE_DELAY=-1");
		cfg.setUsername("sa");
		cfg.setPassword("");
		cfg.setDriverClassName("org.h2.Driver");
		cfg.setMaximumPoolSize(10);
		return new HikariDataSource(cfg);
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource dataSource,
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", "ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect");
		p.put("hibernate.hbm2ddl.auto", "update");
		// Lucene in the heap: terminology ($expand, code lookups) needs Hibernate Search
		p.put("hibernate.search.enabled", "true");
		p.put("hibernate.search.backend.type", "lucene");
		p.put("hibernate.search.backend.directory.type", "local-heap");
		p.put("hibernate.search.backend.lucene_version", "LUCENE_CURRENT");
		p.put("hibernate.search.backend.analysis.configurer",
				"ca.uhn.fhir.jpa.search.HapiHSearchAnalysisConfigurers$HapiLuceneAnalysisConfigurer");
		p.put("hibernate.search.indexing.plan.synchronization.strategy", "sync");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		emf.setJpaProperties(p);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}
}
